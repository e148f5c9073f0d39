/**
 * What a process must release on the way out, in the reverse of the order it was made. Each
 * resource registers its own close the moment it exists (as fastify's onClose hooks do), so a
 * start-up that fails half-way releases exactly what was made, and nobody lists closers by hand.
 */
export interface CloseStack {
  /** Registers `close` to run before everything registered earlier. */
  defer(close: () => void | Promise<void>): void;
  /** Runs every registered close once, newest first; one that throws is reported and the rest still run. */
  close(): Promise<void>;
}

export function createCloseStack(onError: (error: unknown) => void): CloseStack {
  const closers: Array<() => void | Promise<void>> = [];
  let closing: Promise<void> | undefined;
  return {
    defer(close) {
      closers.push(close);
    },
    close() {
      closing ??= (async () => {
        for (const close of closers.reverse()) {
          try {
            await close();
          } catch (error) {
            onError(error);
          }
        }
      })();
      return closing;
    },
  };
}
