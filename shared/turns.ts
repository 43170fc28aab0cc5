/**
 * Runs tasks with the same key one after another, in the order they came, and tasks with
 * different keys at once. A key with nothing to run takes no memory.
 */
export type Turns = <T>(key: string, task: () => Promise<T>) => Promise<T>;

export function createTurns(): Turns {
  const lastOf = new Map<string, Promise<void>>();
  return (key, task) => {
    const result = (lastOf.get(key) ?? Promise.resolve()).then(task);
    const last = result.then(
      () => {},
      () => {},
    );
    lastOf.set(key, last);
    void last.then(() => {
      if (lastOf.get(key) === last) lastOf.delete(key);
    });
    return result;
  };
}
