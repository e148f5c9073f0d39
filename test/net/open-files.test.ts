import t from 'tap';
import { connectionBudget, DEFAULT_CONNECTION_BUDGET, openFileLimit } from '../../src/net/index.js';

const limits = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            ${soft}                ${soft}                files\n`;

t.test('the open-file limit is read from /proc/self/limits, and is undefined where it cannot be', async (t) => {
  t.equal(openFileLimit(() => limits('20000')), 20_000);
  t.equal(openFileLimit(() => limits('unlimited')), Number.POSITIVE_INFINITY);
  t.equal(openFileLimit(() => 'garbage'), undefined);
  t.equal(openFileLimit(() => { throw new Error('ENOENT'); }), undefined);
  if (process.platform === 'linux') t.ok((openFileLimit() ?? 0) > 0, 'this process has one');
});

t.test('both servers\' connection caps stay below the open-file limit with room for the rest', async (t) => {
  t.same(connectionBudget(undefined), DEFAULT_CONNECTION_BUDGET);
  t.same(connectionBudget(1_048_576), DEFAULT_CONNECTION_BUDGET, 'a large limit keeps the defaults');
  for (const limit of [20_000, 4096, 1024, 256]) {
    const budget = connectionBudget(limit);
    const all = budget.imds + budget.imdsStrangers + budget.admin + budget.adminStrangers;
    t.ok(all + 64 * 2 < limit || limit <= 512, `limit ${limit}: ${all} connections in all leave room`);
    t.ok(budget.imds >= 1 && budget.imdsStrangers >= 4 && budget.admin >= 8 && budget.adminStrangers >= 8, `limit ${limit}: both servers still accept pods and strangers`);
  }
  t.same(connectionBudget(1024), { imds: 435, imdsStrangers: 25, admin: 25, adminStrangers: 25 });
});
