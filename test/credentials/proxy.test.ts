import t from 'tap';
import { bypassesProxy, proxyFor, ProxyConfigError } from '../../src/credentials/proxy.js';

const https = new URL('https://sts.eu-west-1.amazonaws.com');
const http = new URL('http://127.0.0.1:5000/');

t.test('https endpoints use HTTPS_PROXY, http endpoints HTTP_PROXY; upper case wins over lower case', async (t) => {
  t.equal(proxyFor(https, { HTTPS_PROXY: 'http://proxy:3128' })?.href, 'http://proxy:3128/');
  t.equal(proxyFor(https, { https_proxy: 'http://lower:3128' })?.href, 'http://lower:3128/');
  t.equal(proxyFor(https, { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2' })?.hostname, 'upper');
  t.equal(proxyFor(https, { HTTP_PROXY: 'http://proxy:3128' }), undefined, 'HTTP_PROXY does not apply to https');
  t.equal(proxyFor(http, { HTTP_PROXY: 'http://proxy:3128' })?.hostname, 'proxy');
  t.equal(proxyFor(http, { http_proxy: 'http://proxy:3128' })?.hostname, 'proxy');
  t.equal(proxyFor(http, { HTTPS_PROXY: 'http://proxy:3128' }), undefined, 'HTTPS_PROXY does not apply to http');
  t.equal(proxyFor(https, {}), undefined);
});

t.test('an empty variable counts as unset, and a scheme-less value means http://', async (t) => {
  t.equal(proxyFor(https, { HTTPS_PROXY: '', https_proxy: 'http://lower:2' })?.hostname, 'lower');
  t.equal(proxyFor(https, { HTTPS_PROXY: '  ' }), undefined);
  const bare = proxyFor(https, { HTTPS_PROXY: 'squid.internal:3128' });
  t.equal(bare?.protocol, 'http:');
  t.equal(bare?.host, 'squid.internal:3128');
  t.equal(proxyFor(https, { HTTPS_PROXY: 'https://user:pw@secure:443' })?.username, 'user');
});

t.test('an unusable proxy stops start-up with a message that hides its password', async (t) => {
  t.throws(() => proxyFor(https, { HTTPS_PROXY: 'socks5://proxy:1080' }), ProxyConfigError);
  t.throws(() => proxyFor(https, { HTTPS_PROXY: 'http://user:secret@[bad' }), { name: 'ProxyConfigError', message: /\*\*\*@/ });
  try {
    proxyFor(https, { HTTPS_PROXY: 'http://user:secret@[bad' });
  } catch (error) {
    t.notMatch(String(error), /secret/);
  }
});

t.test('NO_PROXY: *, exact hosts, domain suffixes with or without a leading dot', async (t) => {
  t.ok(bypassesProxy(https, '*'));
  t.ok(bypassesProxy(https, 'sts.eu-west-1.amazonaws.com'));
  t.ok(bypassesProxy(https, 'amazonaws.com'));
  t.ok(bypassesProxy(https, '.amazonaws.com'));
  t.ok(bypassesProxy(https, '*.amazonaws.com'));
  t.ok(bypassesProxy(https, 'example.org, .AMAZONAWS.com'), 'case-insensitive, list with spaces');
  t.ok(bypassesProxy(https, 'example.org amazonaws.com'), 'space-separated');
  t.notOk(bypassesProxy(https, 'zonaws.com'), 'a suffix must end at a dot');
  t.notOk(bypassesProxy(https, 'example.org,,'));
  t.notOk(bypassesProxy(https, ''));
  t.ok(bypassesProxy(new URL('https://sts.amazonaws.com./'), 'sts.amazonaws.com'), 'trailing dot of an FQDN');
});

t.test('NO_PROXY: host:port matches only that port, including the scheme default', async (t) => {
  t.ok(bypassesProxy(https, 'sts.eu-west-1.amazonaws.com:443'));
  t.notOk(bypassesProxy(https, 'sts.eu-west-1.amazonaws.com:8443'));
  t.ok(bypassesProxy(http, '127.0.0.1:5000'));
  t.notOk(bypassesProxy(http, '127.0.0.1:5001'));
  t.ok(bypassesProxy(new URL('http://sts.local/'), 'sts.local:80'));
  t.notOk(bypassesProxy(http, '127.0.0.1:abc'), 'a malformed port matches nothing');
});

t.test('NO_PROXY: IP addresses, IPv6 and CIDR blocks', async (t) => {
  t.ok(bypassesProxy(http, '127.0.0.1'));
  t.ok(bypassesProxy(http, '127.0.0.0/8'));
  t.notOk(bypassesProxy(http, '10.0.0.0/8'));
  t.notOk(bypassesProxy(http, '127.0.0.2'));
  const v6 = new URL('http://[::1]:5000/');
  t.ok(bypassesProxy(v6, '::1'));
  t.ok(bypassesProxy(v6, '0:0:0:0:0:0:0:1'), 'compared as addresses, not strings');
  t.ok(bypassesProxy(v6, '[::1]:5000'));
  t.notOk(bypassesProxy(v6, '[::1]:5001'));
  t.ok(bypassesProxy(v6, '::/0'));
  t.notOk(bypassesProxy(v6, '127.0.0.0/8'), 'families do not mix');
  t.notOk(bypassesProxy(new URL('https://vpce.amazonaws.com/'), '10.0.0.0/8'), 'a CIDR never matches a name');
});

t.test('NO_PROXY is read in either case and applies to both schemes', async (t) => {
  t.equal(proxyFor(https, { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.amazonaws.com' }), undefined);
  t.equal(proxyFor(https, { HTTPS_PROXY: 'http://p:1', no_proxy: '.amazonaws.com' }), undefined);
  t.equal(proxyFor(http, { HTTP_PROXY: 'http://p:1', NO_PROXY: '127.0.0.1' }), undefined);
  t.equal(proxyFor(http, { HTTP_PROXY: 'http://p:1', NO_PROXY: 'localhost' })?.hostname, 'p', 'loopback is not exempt by itself');
});
