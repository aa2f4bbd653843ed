/**
 * The client-side cache's map (infra/redis/tracked-map.ts): what a read may store when its reply
 * races an invalidation, a reset or a fence of this process's own change, with reads whose
 * replies the test releases by hand.
 */
import { describe, expect, it } from "vitest";
import { Stamps, TrackedMap } from "../../src/infra/redis/tracked-map.js";

/** A read whose reply the test releases. */
function gatedRead<V>(value: V) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return { read: () => gate.then(() => value), release: () => release() };
}

describe("the tracked map", () => {
  it("keeps a value read without interference, for its owner only", async () => {
    const map = new TrackedMap<number>(new Stamps(), 10);
    const loaded = await map.load("s1", "u1", async () => 42);
    expect(loaded).toEqual({ value: 42, cached: true });
    expect(map.get("s1", "u1")).toBe(42);
    expect(map.get("s1", "u2")).toBeUndefined();
  });

  it("does not keep a reply that arrived after an invalidation of its key (the classic race)", async () => {
    const map = new TrackedMap<string>(new Stamps(), 10);
    const gated = gatedRead("alive");
    const pending = map.load("s1", "u1", gated.read);
    map.invalidate("s1"); // the invalidation overtakes the reply
    gated.release();
    expect(await pending).toEqual({ value: "alive", cached: false });
    expect(map.get("s1", "u1")).toBeUndefined();
  });

  it("keeps a reply whose invalidation came before the read was sent", async () => {
    const map = new TrackedMap<string>(new Stamps(), 10);
    map.invalidate("s1");
    expect(await map.load("s1", "u1", async () => "gone")).toEqual({ value: "gone", cached: true });
  });

  it("does not keep a reply that arrived after a reset, nor anything from before it", async () => {
    const stamps = new Stamps();
    const map = new TrackedMap<string>(stamps, 10);
    await map.load("old", "u1", async () => "alive");
    const gated = gatedRead("alive");
    const pending = map.load("s1", "u1", gated.read);
    stamps.reset();
    map.clear();
    gated.release();
    expect((await pending).cached).toBe(false);
    expect(map.get("old", "u1")).toBeUndefined();
    expect(map.size).toBe(0);
  });

  it("treats a fence of the owner as an invalidation of everything of theirs read before it", async () => {
    const stamps = new Stamps();
    const map = new TrackedMap<string>(stamps, 10);
    await map.load("a", "u1", async () => "alive");
    await map.load("b", "u2", async () => "alive");
    const gated = gatedRead("alive");
    const pending = map.load("c", "u1", gated.read);
    stamps.fence("u1");
    gated.release();
    expect((await pending).cached).toBe(false);
    expect(map.get("a", "u1")).toBeUndefined();
    expect(map.get("b", "u2")).toBe("alive");
    // Read after the fence: kept.
    expect((await map.load("a", "u1", async () => "gone")).cached).toBe(true);
    expect(map.get("a", "u1")).toBe("gone");
  });

  it("lets a fence go once a heartbeat sent after it came back", () => {
    const stamps = new Stamps();
    stamps.fence("u1");
    stamps.round(performance.now() - 10_000);
    expect(stamps.fences.size).toBe(1);
    stamps.round(performance.now() + 1);
    expect(stamps.fences.size).toBe(0);
  });

  it("shares one read between concurrent loads of a key", async () => {
    const map = new TrackedMap<number>(new Stamps(), 10);
    let reads = 0;
    const gated = gatedRead(7);
    const read = () => {
      reads += 1;
      return gated.read();
    };
    const both = Promise.all([map.load("s", "u", read), map.load("s", "u", read)]);
    gated.release();
    expect(await both).toEqual([
      { value: 7, cached: true },
      { value: 7, cached: true },
    ]);
    expect(reads).toBe(1);
  });

  it("holds at most its capacity, forgetting the oldest first", async () => {
    const map = new TrackedMap<number>(new Stamps(), 3);
    for (const id of ["a", "b", "c", "d"]) await map.load(id, "u", async () => 1);
    expect(map.size).toBe(3);
    expect(map.get("a", "u")).toBeUndefined();
    expect(map.get("d", "u")).toBe(1);
  });

  it("forgets a failed read, so that the next one is sent", async () => {
    const map = new TrackedMap<number>(new Stamps(), 3);
    await expect(
      map.load("s", "u", async () => {
        throw new Error("connection closed");
      }),
    ).rejects.toThrow("connection closed");
    expect(await map.load("s", "u", async () => 2)).toEqual({ value: 2, cached: true });
  });
});
