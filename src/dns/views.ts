// Views: the ordered network lists listeners answer for. Listeners with the same list share one
// ViewState and so one answer cache; the registry finds the views that contain a network, so a
// zone change clears exactly the caches it can affect. Each view has a number, the name the native
// UDP path knows it by, and its cache is mirrored there when that path is in use.
import { AnswerCache } from './cache.js';
import { nativeMirror } from './fast-udp.js';

let nextViewId = 1;

export class ViewState {
  readonly cache: AnswerCache;
  readonly id = nextViewId++;
  refs = 0;
  constructor(
    readonly key: string,
    readonly networks: readonly string[],
    maxEntries: number,
    mirrored: boolean,
  ) {
    this.cache = new AnswerCache(maxEntries, mirrored ? nativeMirror(this.id, maxEntries) : undefined);
  }
}

export class ViewRegistry {
  private readonly byKey = new Map<string, ViewState>();
  private readonly byNetwork = new Map<string, Set<ViewState>>();

  constructor(
    private readonly maxEntriesPerView: number,
    private readonly mirrored = false,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The shared state of this network list, counted once more. */
  acquire(networks: readonly string[]): ViewState {
    const key = networks.join('\u0000');
    let view = this.byKey.get(key);
    if (view === undefined) {
      view = new ViewState(key, [...networks], this.maxEntriesPerView, this.mirrored);
      this.byKey.set(key, view);
      for (const id of new Set(networks)) {
        let set = this.byNetwork.get(id);
        if (set === undefined) this.byNetwork.set(id, (set = new Set()));
        set.add(view);
      }
    }
    view.refs++;
    return view;
  }

  /** One user fewer; the state goes when nobody uses it. */
  release(view: ViewState): void {
    if (--view.refs > 0) return;
    this.byKey.delete(view.key);
    view.cache.clear();
    for (const id of new Set(view.networks)) {
      const set = this.byNetwork.get(id);
      set?.delete(view);
      if (set?.size === 0) this.byNetwork.delete(id);
    }
  }

  /** Drops the cached answers of every view that contains the network. */
  invalidate(networkId: string): void {
    const views = this.byNetwork.get(networkId);
    if (views === undefined) return;
    for (const v of views) v.cache.clear();
  }
}
