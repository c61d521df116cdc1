/** A minimal typed event emitter (no DOM EventTarget, so the core runs anywhere). */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(name: K, fn: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn as (payload: never) => void);
    return () => this.off(name, fn);
  }

  off<K extends keyof Events>(name: K, fn: (payload: Events[K]) => void): void {
    this.listeners.get(name)?.delete(fn as (payload: never) => void);
  }

  /** Calls every listener; a listener that throws does not stop the others. */
  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    for (const fn of [...(this.listeners.get(name) ?? [])]) {
      try {
        (fn as (p: Events[K]) => void)(payload);
      } catch (err) {
        console.error(`Clickwise: a '${String(name)}' listener threw`, err);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
