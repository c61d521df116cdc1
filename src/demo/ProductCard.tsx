import type { Item } from '../core/index.js';

/** A product in the grid. The link carries `data-clickwise-item`, as the storefront script reads it. */
export function ProductCard({ item }: { item: Item }) {
  return (
    <a className="card" href={`#/p/${encodeURIComponent(item.id)}`} data-clickwise-item={item.id} data-category={item.category}>
      {item.image && <img src={item.image} alt="" width={120} height={110} loading="lazy" />}
      <span className="title">{item.title}</span>
      <span className="meta">
        {item.category}
        {item.price !== undefined && <> · £{item.price.toFixed(2)}</>}
      </span>
    </a>
  );
}
