/**
 * `npm run make:catalog`: writes the demo shop's default catalogue (`public/catalog.json`) and its
 * drawn SVG thumbnails (`public/thumbs/`). Every product is composed from the word lists below,
 * written for this project; nothing comes from the shop datasets. Deterministic: the same
 * output on every run.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Item } from '../../core/types.js';

interface ProductType {
  noun: string;
  shape: Shape;
  price: number;
  blurb: string;
}

type Shape =
  | 'mug'
  | 'pot'
  | 'pan'
  | 'leaf'
  | 'tent'
  | 'pencil'
  | 'book'
  | 'ball'
  | 'shirt'
  | 'lamp'
  | 'box'
  | 'bottle'
  | 'bowl'
  | 'star'
  | 'sock'
  | 'hat'
  | 'cushion'
  | 'frame'
  | 'bone'
  | 'can';

interface Department {
  name: string;
  slug: string;
  /** `note` follows the type's name in a description ("A tent …"), with its own preposition. */
  variants: { word: string; color: string; note: string }[];
  types: ProductType[];
}

const DEPARTMENTS: Department[] = [
  {
    name: 'Kitchen',
    slug: 'kit',
    variants: [
      { word: 'Stoneware', color: '#b7a58f', note: 'in glazed stoneware that keeps heat' },
      { word: 'Enamel', color: '#e4e8ef', note: 'in chip-resistant enamel over steel' },
      { word: 'Copper', color: '#c57a4a', note: 'in brushed copper with a tin lining' },
      { word: 'Bamboo', color: '#d8c48e', note: 'in fast-growing bamboo, oiled by hand' },
      { word: 'Cast Iron', color: '#3f3f46', note: 'in pre-seasoned cast iron' },
    ],
    types: [
      { noun: 'Coffee Mug', shape: 'mug', price: 12, blurb: 'holds a generous 350 ml of coffee or tea' },
      { noun: 'Saucepan', shape: 'pan', price: 38, blurb: 'for sauces, porridge and soups on any hob' },
      { noun: 'Mixing Bowl', shape: 'bowl', price: 22, blurb: 'deep enough to whisk batter without splashes' },
      { noun: 'Teapot', shape: 'pot', price: 34, blurb: 'brews four cups, with a removable infuser' },
      { noun: 'Spice Jar Set', shape: 'bottle', price: 18, blurb: 'six airtight jars for herbs and spices' },
      { noun: 'Frying Pan', shape: 'pan', price: 42, blurb: 'a 28 cm pan for eggs, pancakes and searing' },
      { noun: 'Bread Bin', shape: 'box', price: 29, blurb: 'keeps a loaf fresh for days' },
    ],
  },
  {
    name: 'Garden',
    slug: 'gar',
    variants: [
      { word: 'Terracotta', color: '#c8643b', note: 'in frost-proof terracotta' },
      { word: 'Galvanised', color: '#9ca3af', note: 'in galvanised steel that will not rust' },
      { word: 'Willow', color: '#a98b5d', note: 'in woven willow from managed coppice' },
      { word: 'Recycled', color: '#6b8f71', note: 'in recycled plastic, UV-stable' },
      { word: 'Slate', color: '#4b5563', note: 'in split slate with a natural edge' },
    ],
    types: [
      { noun: 'Plant Pot', shape: 'pot', price: 16, blurb: 'with a drainage hole for herbs and shrubs' },
      { noun: 'Watering Can', shape: 'can', price: 27, blurb: 'a 7 litre can with a fine brass rose' },
      { noun: 'Seed Tray', shape: 'box', price: 9, blurb: 'twenty-four cells for sowing seedlings' },
      { noun: 'Bird Feeder', shape: 'lamp', price: 21, blurb: 'squirrel-resistant, for seeds and nuts' },
      { noun: 'Herb Planter', shape: 'leaf', price: 24, blurb: 'three pockets for basil, thyme and mint' },
      { noun: 'Compost Bin', shape: 'box', price: 55, blurb: 'turns kitchen scraps into rich compost' },
      { noun: 'Garden Trowel', shape: 'leaf', price: 14, blurb: 'a sharp blade for planting bulbs' },
    ],
  },
  {
    name: 'Outdoor',
    slug: 'out',
    variants: [
      { word: 'Ultralight', color: '#f59e0b', note: 'in ripstop nylon at half the usual weight' },
      { word: 'Waterproof', color: '#2563eb', note: 'with taped seams and a 5000 mm waterproof rating' },
      { word: 'Trail', color: '#16a34a', note: 'made for long days on rough paths' },
      { word: 'Alpine', color: '#dc2626', note: 'rated for cold nights above the tree line' },
      { word: 'Canvas', color: '#a3a380', note: 'in heavy cotton canvas that breathes' },
    ],
    types: [
      { noun: 'Tent', shape: 'tent', price: 180, blurb: 'sleeps two, pitches in five minutes' },
      { noun: 'Sleeping Bag', shape: 'cushion', price: 95, blurb: 'mummy cut with a draught collar' },
      { noun: 'Backpack', shape: 'box', price: 85, blurb: '40 litres with a ventilated back panel' },
      { noun: 'Water Bottle', shape: 'bottle', price: 19, blurb: 'one litre, leak-proof lid' },
      { noun: 'Camping Stove', shape: 'can', price: 48, blurb: 'boils a litre in four minutes' },
      { noun: 'Head Torch', shape: 'lamp', price: 32, blurb: '300 lumens with a red night mode' },
      { noun: 'Rain Jacket', shape: 'shirt', price: 120, blurb: 'packs into its own pocket' },
    ],
  },
  {
    name: 'Stationery',
    slug: 'sta',
    variants: [
      { word: 'Dotted', color: '#0ea5e9', note: 'with dot-grid pages for notes and sketches' },
      { word: 'Linen', color: '#e7dcc8', note: 'with a linen-bound cover' },
      { word: 'Pastel', color: '#f9a8d4', note: 'in soft pastel tones' },
      { word: 'Kraft', color: '#b08968', note: 'in unbleached kraft card' },
      { word: 'Midnight', color: '#1e293b', note: 'in deep midnight blue' },
    ],
    types: [
      { noun: 'Notebook', shape: 'book', price: 14, blurb: 'A5, 192 numbered pages of 100 gsm paper' },
      { noun: 'Fountain Pen', shape: 'pencil', price: 45, blurb: 'a smooth medium nib and a converter' },
      { noun: 'Pencil Set', shape: 'pencil', price: 11, blurb: 'twelve graphite grades from 6H to 6B' },
      { noun: 'Desk Planner', shape: 'book', price: 19, blurb: 'undated weekly spreads for the whole year' },
      { noun: 'Greeting Cards', shape: 'frame', price: 8, blurb: 'a pack of six blank cards with envelopes' },
      { noun: 'Washi Tape', shape: 'ball', price: 6, blurb: 'three rolls of tearable paper tape' },
      { noun: 'Desk Organiser', shape: 'box', price: 26, blurb: 'compartments for pens, clips and cards' },
    ],
  },
  {
    name: 'Toys',
    slug: 'toy',
    variants: [
      { word: 'Wooden', color: '#c89f6a', note: 'in sustainably sourced beech, non-toxic paint' },
      { word: 'Rainbow', color: '#f43f5e', note: 'in bright rainbow colours' },
      { word: 'Jungle', color: '#65a30d', note: 'with jungle animals on every piece' },
      { word: 'Space', color: '#6366f1', note: 'with rockets, planets and stars' },
      { word: 'Ocean', color: '#0891b2', note: 'with whales, fish and coral' },
    ],
    types: [
      { noun: 'Building Blocks', shape: 'box', price: 28, blurb: 'fifty blocks in a drawstring bag, ages 2 and up' },
      { noun: 'Jigsaw Puzzle', shape: 'frame', price: 17, blurb: '500 pieces with a poster to follow' },
      { noun: 'Soft Ball', shape: 'ball', price: 9, blurb: 'squashy and safe for indoor play' },
      { noun: 'Board Game', shape: 'book', price: 30, blurb: 'for two to five players, thirty minutes a round' },
      { noun: 'Plush Toy', shape: 'star', price: 22, blurb: 'extra soft and machine washable' },
      { noun: 'Kite', shape: 'star', price: 25, blurb: 'flies in light wind, with 30 m of line' },
      { noun: 'Stacking Rings', shape: 'bowl', price: 15, blurb: 'seven rings that teach size and colour' },
    ],
  },
  {
    name: 'Clothing',
    slug: 'clo',
    variants: [
      { word: 'Merino', color: '#94a3b8', note: 'in fine merino wool that does not itch' },
      { word: 'Organic Cotton', color: '#f5f5f4', note: 'in certified organic cotton' },
      { word: 'Corduroy', color: '#92400e', note: 'in soft needle-cord' },
      { word: 'Striped', color: '#1d4ed8', note: 'in classic breton stripes' },
      { word: 'Fleece', color: '#7c3aed', note: 'in warm recycled fleece' },
    ],
    types: [
      { noun: 'Jumper', shape: 'shirt', price: 65, blurb: 'a relaxed crew neck for every season' },
      { noun: 'T-Shirt', shape: 'shirt', price: 24, blurb: 'a regular fit with a ribbed collar' },
      { noun: 'Beanie Hat', shape: 'hat', price: 18, blurb: 'a snug rib knit with a turn-up' },
      { noun: 'Socks', shape: 'sock', price: 12, blurb: 'a pair with cushioned soles' },
      { noun: 'Scarf', shape: 'sock', price: 29, blurb: 'long enough to wrap twice' },
      { noun: 'Trousers', shape: 'shirt', price: 58, blurb: 'straight leg with deep pockets' },
      { noun: 'Gloves', shape: 'hat', price: 21, blurb: 'touch-screen fingertips' },
    ],
  },
  {
    name: 'Home',
    slug: 'hom',
    variants: [
      { word: 'Velvet', color: '#065f46', note: 'in plush velvet in a deep tone' },
      { word: 'Rattan', color: '#caa472', note: 'in hand-woven rattan' },
      { word: 'Marble', color: '#e5e7eb', note: 'in white marble with grey veins' },
      { word: 'Oak', color: '#a16207', note: 'in solid oak with a matt finish' },
      { word: 'Boucle', color: '#f3efe6', note: 'in nubby boucle weave' },
    ],
    types: [
      { noun: 'Cushion', shape: 'cushion', price: 32, blurb: '45 cm square with a feather insert' },
      { noun: 'Table Lamp', shape: 'lamp', price: 75, blurb: 'a warm glow with an inline dimmer' },
      { noun: 'Photo Frame', shape: 'frame', price: 19, blurb: 'holds a 10 x 15 cm print' },
      { noun: 'Scented Candle', shape: 'can', price: 24, blurb: 'burns for forty hours, fig and cedar' },
      { noun: 'Vase', shape: 'bottle', price: 36, blurb: 'for a handful of stems or dried grasses' },
      { noun: 'Throw Blanket', shape: 'cushion', price: 68, blurb: '130 x 170 cm, for the sofa or the bed' },
      { noun: 'Wall Clock', shape: 'ball', price: 44, blurb: 'a silent sweep movement' },
    ],
  },
  {
    name: 'Pets',
    slug: 'pet',
    variants: [
      { word: 'Cosy', color: '#fb923c', note: 'with extra padding for long naps' },
      { word: 'Reflective', color: '#facc15', note: 'with reflective trim for evening walks' },
      { word: 'Chew-Proof', color: '#475569', note: 'tough enough for determined chewers' },
      { word: 'Tartan', color: '#b91c1c', note: 'in a warm tartan check' },
      { word: 'Eco', color: '#4d7c0f', note: 'made from recycled bottles' },
    ],
    types: [
      { noun: 'Dog Bed', shape: 'cushion', price: 49, blurb: 'a raised rim for dogs that like to lean' },
      { noun: 'Cat Scratcher', shape: 'box', price: 27, blurb: 'corrugated card that saves your sofa' },
      { noun: 'Dog Lead', shape: 'sock', price: 18, blurb: '1.5 m with a padded handle' },
      { noun: 'Pet Bowl', shape: 'bowl', price: 13, blurb: 'non-slip base, dishwasher safe' },
      { noun: 'Chew Toy', shape: 'bone', price: 11, blurb: 'floats, for games at the lake' },
      { noun: 'Cat Tunnel', shape: 'tent', price: 23, blurb: 'crinkly and collapsible' },
      { noun: 'Dog Coat', shape: 'shirt', price: 39, blurb: 'fleece lined with a harness opening' },
    ],
  },
];

function glyph(shape: Shape, color: string): string {
  const stroke = '#1f2937';
  const s = `fill="${color}" stroke="${stroke}" stroke-width="3" stroke-linejoin="round"`;
  switch (shape) {
    case 'mug':
      return `<rect x="30" y="34" width="44" height="50" rx="6" ${s}/><path d="M74 46h8a10 10 0 0 1 0 20h-8" fill="none" stroke="${stroke}" stroke-width="5"/>`;
    case 'pot':
      return `<path d="M28 40h64l-8 46H36z" ${s}/><rect x="24" y="32" width="72" height="10" rx="3" ${s}/>`;
    case 'pan':
      return `<ellipse cx="50" cy="62" rx="30" ry="16" ${s}/><rect x="78" y="58" width="30" height="8" rx="4" fill="${stroke}"/>`;
    case 'leaf':
      return `<path d="M30 88C30 50 56 26 92 24c0 38-26 64-62 64z" ${s}/><path d="M30 88L78 38" stroke="${stroke}" stroke-width="3"/>`;
    case 'tent':
      return `<path d="M14 86L60 24l46 62z" ${s}/><path d="M60 24v62M50 86l10-22 10 22" fill="none" stroke="${stroke}" stroke-width="3"/>`;
    case 'pencil':
      return `<path d="M24 84l8-20 50-50 12 12-50 50z" ${s}/><path d="M24 84l8-20 12 12z" fill="#fde68a" stroke="${stroke}" stroke-width="3"/>`;
    case 'book':
      return `<rect x="30" y="20" width="60" height="76" rx="4" ${s}/><path d="M40 20v76" stroke="${stroke}" stroke-width="3"/>`;
    case 'ball':
      return `<circle cx="60" cy="58" r="32" ${s}/><path d="M28 58h64M60 26c14 18 14 46 0 64" fill="none" stroke="${stroke}" stroke-width="3"/>`;
    case 'shirt':
      return `<path d="M40 24l-24 14 10 18 10-6v40h48V50l10 6 10-18-24-14c-4 8-10 12-20 12s-16-4-20-12z" ${s}/>`;
    case 'lamp':
      return `<path d="M38 24h44l12 34H26z" ${s}/><rect x="56" y="58" width="8" height="26" fill="${stroke}"/><rect x="40" y="84" width="40" height="8" rx="3" ${s}/>`;
    case 'box':
      return `<rect x="24" y="36" width="72" height="52" rx="4" ${s}/><path d="M24 52h72M52 36v16" stroke="${stroke}" stroke-width="3"/>`;
    case 'bottle':
      return `<path d="M50 18h20v16c10 6 14 14 14 24v36H36V58c0-10 4-18 14-24z" ${s}/>`;
    case 'bowl':
      return `<path d="M20 50h80c0 22-18 36-40 36S20 72 20 50z" ${s}/>`;
    case 'star':
      return `<path d="M60 16l12 28 30 2-23 19 8 30-27-17-27 17 8-30-23-19 30-2z" ${s}/>`;
    case 'sock':
      return `<path d="M44 18h26v46l18 12c8 6 4 20-8 18l-32-8c-6-2-8-8-8-14z" ${s}/>`;
    case 'hat':
      return `<path d="M26 76c0-28 14-46 34-46s34 18 34 46z" ${s}/><rect x="22" y="72" width="76" height="14" rx="5" ${s}/><circle cx="60" cy="26" r="7" ${s}/>`;
    case 'cushion':
      return `<path d="M22 28c14 6 62 6 76 0-6 14-6 46 0 60-14-6-62-6-76 0 6-14 6-46 0-60z" ${s}/>`;
    case 'frame':
      return `<rect x="22" y="24" width="76" height="64" rx="3" ${s}/><rect x="34" y="36" width="52" height="40" fill="#f8fafc" stroke="${stroke}" stroke-width="2"/>`;
    case 'bone':
      return `<path d="M34 46a10 10 0 1 1 6-16l40 0a10 10 0 1 1 6 16 10 10 0 1 1-6 16H40a10 10 0 1 1-6-16z" ${s}/>`;
    case 'can':
      return `<rect x="34" y="30" width="52" height="58" rx="8" ${s}/><ellipse cx="60" cy="30" rx="26" ry="7" ${s}/>`;
  }
}

/** A type's name as a description begins it: "A tent", or "Socks" for a plural. */
function described(noun: string): string {
  const lower = noun.toLowerCase();
  return noun.endsWith('s') ? lower[0]!.toUpperCase() + lower.slice(1) : `A ${lower}`;
}

function thumbnail(shape: Shape, color: string, bg: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 110" width="240" height="220"><rect width="120" height="110" fill="${bg}"/>${glyph(shape, color)}</svg>\n`;
}

const BACKGROUNDS = ['#fef3c7', '#e0f2fe', '#ecfccb', '#fce7f3', '#ede9fe', '#f1f5f9', '#ffedd5', '#dcfce7'];

function main(): void {
  const items: Item[] = [];
  const thumbs = join('public', 'thumbs');
  rmSync(thumbs, { recursive: true, force: true });
  mkdirSync(thumbs, { recursive: true });
  DEPARTMENTS.forEach((dep, di) => {
    dep.types.forEach((type, ti) => {
      dep.variants.forEach((v, vi) => {
        const id = `${dep.slug}-${String(ti + 1).padStart(2, '0')}${String.fromCharCode(97 + vi)}`;
        const price = Math.round(type.price * (0.85 + 0.1 * vi) * 100) / 100 - 0.01;
        const file = `${id}.svg`;
        writeFileSync(join(thumbs, file), thumbnail(type.shape, v.color, BACKGROUNDS[di % BACKGROUNDS.length]!));
        items.push({
          id,
          title: `${v.word} ${type.noun}`,
          description: `${described(type.noun)} ${v.note}; ${type.blurb}.`,
          category: dep.name,
          price: Number(price.toFixed(2)),
          image: `thumbs/${file}`,
        });
      });
    });
  });
  writeFileSync(join('public', 'catalog.json'), JSON.stringify(items, null, 1) + '\n');
  console.log(`wrote public/catalog.json: ${items.length} items in ${DEPARTMENTS.length} departments, and ${items.length} thumbnails`);
}

main();
