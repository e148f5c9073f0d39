import t from 'tap';
import { createTokenIssuer, type TokenKeyRing } from '../../src/imds-token/index.js';

type HeldKey = NonNullable<ReturnType<TokenKeyRing['lookup']>>;

/** A ring whose one key the test replaces, retires or removes between checks. */
function ring(secret: Buffer) {
  let held: HeldKey | undefined = { key: { id: '1', secret }, acceptUntil: undefined };
  const keys: TokenKeyRing = {
    signingKey: () => held!.key,
    lookup: (id) => (id === held?.key.id ? held : undefined),
  };
  return {
    keys,
    set(next: HeldKey | undefined) {
      held = next;
    },
  };
}

function setup() {
  const clock = { ms: Date.UTC(2026, 0, 1), now() { return this.ms; } };
  const node = ring(Buffer.alloc(32, 1));
  const issuer = createTokenIssuer(clock, node.keys);
  const token = issuer.mint('10.0.0.7', 60);
  // Verified once in full: the checks below meet the token as one seen before.
  t.equal(issuer.verify(token, '10.0.0.7'), true);
  return { clock, node, issuer, token };
}

t.test('a token seen before is still refused once it has expired', async (t) => {
  const { clock, issuer, token } = setup();
  t.equal(issuer.verify(token, '10.0.0.7'), true);
  clock.ms += 60_000;
  t.equal(issuer.verify(token, '10.0.0.7'), false);
});

t.test('a token seen before is refused from another IP, and still accepted from its own', async (t) => {
  const { issuer, token } = setup();
  t.equal(issuer.verify(token, '10.0.0.8'), false);
  t.equal(issuer.verify(token, '10.0.0.7'), true);
});

t.test('a token seen before is refused once its key is gone, retired, or its id holds another secret', async (t) => {
  const gone = setup();
  gone.node.set(undefined);
  t.equal(gone.issuer.verify(gone.token, '10.0.0.7'), false);

  const retired = setup();
  retired.node.set({ key: { id: '1', secret: Buffer.alloc(32, 1) }, acceptUntil: retired.clock.ms });
  t.equal(retired.issuer.verify(retired.token, '10.0.0.7'), false);

  const replaced = setup();
  replaced.node.set({ key: { id: '1', secret: Buffer.alloc(32, 2) }, acceptUntil: undefined });
  t.equal(replaced.issuer.verify(replaced.token, '10.0.0.7'), false);
});

t.test('a token altered in its MAC is refused, before and after the real one was seen', async (t) => {
  const { issuer, token } = setup();
  const altered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  t.equal(issuer.verify(altered, '10.0.0.7'), false);
  t.equal(issuer.verify(token, '10.0.0.7'), true);
});
