/**
 * The plain-HTML example shop (`dist/shop.html` and `dist/shop/<id>.html`): static pages, as a
 * shop without React or a build step has them, made smart by the one Clickwise tag. Written by
 * the build from the demo catalogue.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Item } from '../../core/types.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#fafaf9}
header{padding:.75rem 1.25rem;background:#fff;border-bottom:1px solid #e5e7eb}header a{font-weight:800;color:#0f766e;text-decoration:none}
main{display:grid;grid-template-columns:1fr 18rem;gap:1.25rem;padding:1.25rem}
ul.products{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:.75rem}
ul.products a{display:block;background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:.5rem;text-decoration:none;color:inherit}
ul.products img{width:100%;height:auto}aside{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:.75rem}
aside h2{font-size:1rem;margin:.2rem 0 .5rem}.clickwise-list{padding-left:1.2rem;margin:0}.clickwise-list li{margin:.3rem 0}
@media(max-width:700px){main{grid-template-columns:1fr}}`;

function page(title: string, prefix: string, body: string, slot: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${esc(title)} · Plain Shop</title>
<link rel="stylesheet" href="${prefix}shop.css">
</head>
<body>
<header><a href="${prefix}shop.html">Plain Shop</a> · an example shop with only the Clickwise tag</header>
<main>
<section>${body}</section>
<aside><h2>Recommended for you</h2>${slot}</aside>
</main>
<script src="${prefix}clickwise.js" data-catalog="${prefix}catalog.json" data-namespace="plain-shop"></script>
</body>
</html>
`;
}

/** Writes `shop.html`, `shop.css` and one page per product under `outDir/shop/`. */
export function writeShopPages(outDir: string, catalogPath: string, perDepartment = 6): number {
  const items = JSON.parse(readFileSync(catalogPath, 'utf8')) as Item[];
  const byDept = new Map<string, Item[]>();
  for (const it of items) {
    const list = byDept.get(it.category ?? '') ?? [];
    list.push(it);
    byDept.set(it.category ?? '', list);
  }
  const listed = [...byDept.values()].flatMap((l) => l.filter((_, i) => i % 5 === 0).slice(0, perDepartment));
  const card = (it: Item, prefix: string): string =>
    `<li><a href="${prefix}shop/${encodeURIComponent(it.id)}.html" data-clickwise-item="${esc(it.id)}">${
      it.image ? `<img src="${prefix}${esc(it.image)}" alt="" width="120" height="110" loading="lazy">` : ''
    }<strong>${esc(it.title)}</strong><br><small>${esc(it.category ?? '')}</small></a></li>`;
  writeFileSync(join(outDir, 'shop.css'), STYLE);
  writeFileSync(
    join(outDir, 'shop.html'),
    page(
      'All products',
      '',
      `<h1>All products</h1><ul class="products">${listed.map((i) => card(i, '')).join('')}</ul>`,
      '<div data-clickwise-slot data-k="6" data-href="shop/{id}.html"></div>',
    ),
  );
  mkdirSync(join(outDir, 'shop'), { recursive: true });
  for (const it of items) {
    const body = `<article><p><a href="../shop.html">← All products</a></p><h1>${esc(it.title)}</h1>${
      it.image ? `<img src="../${esc(it.image)}" alt="" width="240" height="220">` : ''
    }<p>${esc(it.description ?? '')}</p>${it.price !== undefined ? `<p><strong>£${it.price.toFixed(2)}</strong></p>` : ''}<button type="button" data-clickwise-item="${esc(it.id)}">Add to basket</button></article>`;
    const slot = `<div data-clickwise-slot data-k="6" data-exclude="${esc(it.id)}" data-href="{id}.html"></div>`;
    writeFileSync(join(outDir, 'shop', `${it.id}.html`), page(it.title, '../', body, slot));
  }
  return items.length;
}
