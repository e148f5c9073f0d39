import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

/**
 * Preloaded into the agent by `npm run bench:alloc` (`node --import=<this file>`): counts the
 * bytes the V8 heap allocates between two SIGUSR2s, without touching the agent's code. The first
 * signal starts a GC profile; the second stops it and writes, to BENCH_ALLOC_FILE, the bytes
 * allocated in between: the growth of the used heap plus what every GC in between reclaimed.
 */

const file = process.env.BENCH_ALLOC_FILE;
if (file !== undefined) {
  let window: { profiler: v8.GCProfiler; usedAtStart: number; gcs: number } | undefined;
  process.on('SIGUSR2', () => {
    if (window === undefined) {
      const profiler = new v8.GCProfiler();
      profiler.start();
      window = { profiler, usedAtStart: v8.getHeapStatistics().used_heap_size, gcs: 0 };
      writeFileSync(file, JSON.stringify({ started: true }));
      return;
    }
    const usedAtEnd = v8.getHeapStatistics().used_heap_size;
    const profile = window.profiler.stop() as { statistics: Array<{ beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }> } | undefined;
    const gcs = profile?.statistics ?? [];
    const reclaimed = gcs.reduce((sum, gc) => sum + gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize, 0);
    writeFileSync(file, JSON.stringify({ allocatedBytes: usedAtEnd - window.usedAtStart + reclaimed, gcs: gcs.length }));
    window = undefined;
  });
}
