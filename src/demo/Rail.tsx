import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { Item, Recommendation } from '../core/index.js';
import { whyText } from '../core/index.js';

/**
 * The "Recommended for you" rail. Entries that moved slide from their old place (FLIP), new
 * ones fade in. Changes are announced politely to screen readers.
 */
export function Rail({
  recs,
  version,
  items,
  clicks,
  title = 'Recommended for you',
  note,
  onHold,
}: {
  recs: Recommendation[];
  version: number;
  items: readonly Item[];
  clicks: number;
  title?: string;
  /** A line under the title; default: a hint before the first click. */
  note?: string;
  /** Told whether the shopper's pointer or focus is on the rail (its list should not move then). */
  onHold?: (held: boolean) => void;
}) {
  const [pointer, setPointer] = useState(false);
  const [focus, setFocus] = useState(false);
  const held = pointer || focus;
  useEffect(() => onHold?.(held), [held, onHold]);
  const listRef = useRef<HTMLOListElement>(null);
  const lastTop = useRef(new Map<string, number>());
  const titleOf = (id: string): string => items.find((i) => i.id === id)?.title ?? id;

  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    const next = new Map<string, number>();
    for (const el of Array.from(list.children) as HTMLElement[]) {
      const id = el.dataset['id'] ?? '';
      const top = el.offsetTop;
      next.set(id, top);
      const before = lastTop.current.get(id);
      if (before === undefined) {
        el.animate?.(
          [
            { opacity: 0, transform: 'translateX(12px)' },
            { opacity: 1, transform: 'none' },
          ],
          { duration: 250 },
        );
      } else if (before !== top) {
        el.animate?.([{ transform: `translateY(${before - top}px)` }, { transform: 'none' }], { duration: 300, easing: 'ease-out' });
      }
    }
    lastTop.current = next;
  }, [version]);

  return (
    <section
      className="rail"
      aria-label={title}
      aria-live="polite"
      aria-busy={recs.length === 0}
      onPointerEnter={() => setPointer(true)}
      onPointerLeave={() => setPointer(false)}
      onFocus={() => setFocus(true)}
      onBlur={(e) => {
        if (!(e.relatedTarget instanceof Node && e.currentTarget.contains(e.relatedTarget))) setFocus(false);
      }}
    >
      <h2>{title}</h2>
      {note !== undefined ? (
        <p className="hint">{note}</p>
      ) : (
        clicks === 0 && <p className="hint">Open a few products: this list learns from every click, in your browser only.</p>
      )}
      <ol ref={listRef}>
        {recs.map((r) => (
          <li key={r.id} data-id={r.id}>
            <a href={`#/p/${encodeURIComponent(r.id)}`} data-clickwise-item={r.id} data-category={r.item.category}>
              {r.item.image && <img src={r.item.image} alt="" width={48} height={44} />}
              <span>
                <span className="title">{r.item.title}</span>
                <span className="why">{whyText(r, titleOf) || r.item.category}</span>
              </span>
            </a>
          </li>
        ))}
      </ol>
    </section>
  );
}
