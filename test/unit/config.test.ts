import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/config.ts';
import { normaliseBackendUrl, parseConfig, parseListen } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

function problems(text: string): string[] {
  try {
    parseConfig(text, '/etc/sluice/config.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('config parsing', () => {
  it('fills every default from one place for a minimal config', () => {
    const config = parseConfig('backends:\n  - url: http://10.0.0.1:8080\n', '/x/config.yaml');
    expect(config.listen).to.deep.equal({ host: undefined, port: 8080, text: ':8080' });
    expect(config.admin.listen.port).to.equal(9901);
    expect(config.balancer).to.equal('round-robin');
    expect(config.healthCheck).to.deep.equal(DEFAULTS.healthCheck);
    expect(config.timeouts).to.deep.equal(DEFAULTS.timeouts);
    expect(config.retries).to.equal(2);
    expect(config.shutdown.drainTimeoutMs).to.equal(30_000);
    expect(config.backends).to.deep.equal([{ url: 'http://10.0.0.1:8080', weight: 1 }]);
    expect(config.discovery.kubernetes).to.equal(undefined);
    expect(config.file).to.equal('/x/config.yaml');
  });

  it('reads the documented keys', () => {
    const config = parseConfig([
      'listen: "127.0.0.1:18080"',
      'admin: { listen: "[::1]:19901" }',
      'balancer: weighted-round-robin',
      'healthCheck: { path: /ready, interval: 1s, timeout: 500ms, healthyThreshold: 1, unhealthyThreshold: 5 }',
      'timeouts: { connect: 1s, response: 10s }',
      'retries: 0',
      'accessLog: true',
      'backends:',
      '  - url: http://localhost:8081',
      '    weight: 3',
      '  - http://[::1]:8082',
    ].join('\n'), 'c.yaml');
    expect(config.listen).to.deep.include({ host: '127.0.0.1', port: 18080 });
    expect(config.admin.listen).to.deep.include({ host: '::1', port: 19901 });
    expect(config.balancer).to.equal('weighted-round-robin');
    expect(config.healthCheck).to.deep.equal({ type: 'http', grpcService: '', path: '/ready', intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 5 });
    expect(config.timeouts.connectMs).to.equal(1000);
    expect(config.timeouts.responseMs).to.equal(10_000);
    expect(config.retries).to.equal(0);
    expect(config.accessLog).to.equal(true);
    expect(config.backends).to.deep.equal([{ url: 'http://localhost:8081', weight: 3 }, { url: 'http://[::1]:8082', weight: 1 }]);
  });

  it('reads discovery.kubernetes with its defaults', () => {
    const config = parseConfig('discovery:\n  kubernetes:\n    service: my-app\n    port: 8080\n', 'c.yaml');
    expect(config.discovery.kubernetes).to.deep.equal({ service: 'my-app', namespace: undefined, port: 8080, api: 'endpointslices', ipFamily: 'auto', watchdogMs: 30_000 });
    expect(config.backends).to.deep.equal([]);
  });

  it('names line, column and key path for unknown keys, wrong types and bad values', () => {
    expect(problems('backends:\n  - url: http://a:1\nretry: 2\n')).to.deep.equal(['3:1 retry: unknown key (did you mean "retries"?)']);
    expect(problems('backends:\n  - url: http://a:1\nretries: "2"\n')).to.deep.equal(['3:10 retries: must be a number']);
    expect(problems('backends:\n  - url: http://a:1\nhealthCheck:\n  path: health\n')).to.deep.equal(['4:9 healthCheck.path: "health" must be a path starting with "/"']);
    expect(problems('backends:\n  - url: http://a:1\n    weight: 1.5\n')).to.deep.equal(['3:13 backends[0].weight: must be a whole number of at least 1']);
    expect(problems('backends:\n  - weight: 2\n')).to.deep.equal(['2:5 backends[0].url: is required']);
    expect(problems('backends: http://a:1\n')).to.deep.equal(['1:11 backends: must be a list of entries such as "- url: http://10.0.0.1:8080"']);
  });

  it('rejects duplicate backends, negative and unit-less durations', () => {
    expect(problems('backends:\n  - url: http://a:80\n  - url: http://a\n')).to.deep.equal(['3:10 backends[1].url: duplicate backend http://a:80 (also backends[0])']);
    expect(problems('backends: [http://a:1]\ntimeouts:\n  connect: -5s\n')).to.deep.equal(['3:12 timeouts.connect: "-5s" is negative; durations must be zero or more']);
    expect(problems('backends: [http://a:1]\ntimeouts:\n  response: 30\n')).to.deep.equal(['3:13 timeouts.response: 30 has no unit; write e.g. "30s" or "30ms"']);
    expect(problems('backends: [http://a:1]\nhealthCheck:\n  interval: 0s\n')).to.deep.equal(['3:13 healthCheck.interval: must be longer than zero']);
  });

  it('rejects YAML syntax errors with their position', () => {
    const found = problems('backends:\n  - url: http://a:1\n listen: ":1"\n');
    expect(found).to.have.length.greaterThan(0);
    expect(found[0]).to.match(/^3:\d+ /);
  });

  it('rejects an empty file, a config without backends and clashing listeners', () => {
    expect(problems('')).to.deep.equal(['0:0 : the file is empty; it needs at least "backends:" or "discovery:"']);
    expect(problems('listen: ":80"\n')).to.deep.equal(['1:1 : no backends: add "backends:" with at least one url, or "discovery.kubernetes"']);
    expect(problems('listen: ":9000"\nadmin: { listen: ":9000" }\nbackends: [http://a:1]\n')).to.deep.equal(['2:18 admin.listen: must differ from listen (both are ":9000")']);
  });

  it('reads tls with defaults, paths relative to the config file, and limits.maxConcurrentStreams', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-config-tls-'));
    try {
      for (const name of ['tls.crt', 'tls.key', 'ca.crt']) writeFileSync(join(dir, name), 'pem');
      const file = join(dir, 'config.yaml');
      const minimal = parseConfig('tls:\n  cert: tls.crt\n  key: tls.key\nbackends: [http://10.0.0.1:80]\n', file);
      expect(minimal.tls).to.deep.equal({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), minVersion: DEFAULTS.tls.minVersion, clientCA: DEFAULTS.tls.clientCA });
      expect(minimal.limits.maxConcurrentStreams).to.equal(DEFAULTS.limits.maxConcurrentStreams);
      const full = parseConfig(`tls: { cert: ${dir}/tls.crt, key: ${dir}/tls.key, minVersion: TLSv1.3, clientCA: ca.crt }\nlimits: { maxConcurrentStreams: 8 }\nbackends: [http://10.0.0.1:80]\n`, file);
      expect(full.tls).to.deep.equal({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), minVersion: 'TLSv1.3', clientCA: join(dir, 'ca.crt') });
      expect(full.limits.maxConcurrentStreams).to.equal(8);
      expect(parseConfig('backends: [http://10.0.0.1:80]\n', file).tls).to.equal(undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects tls without cert or key, unreadable files, an unknown minVersion and zero streams', () => {
    expect(problems('tls:\n  minVersion: TLSv1.1\n  cert: /nonexistent/tls.crt\nlimits: { maxConcurrentStreams: 0 }\nbackends: [http://10.0.0.1:80]\n')).to.deep.equal([
      '2:3 tls.key: is required',
      '2:15 tls.minVersion: "TLSv1.1" is not one of TLSv1.2, TLSv1.3',
      '3:9 tls.cert: cannot read "/nonexistent/tls.crt" (no such file)',
      '4:33 limits.maxConcurrentStreams: must be a whole number from 1 to 2147483647',
    ]);
  });

  it('reads upstream.protocol, a backend\'s own protocol and the gRPC health check', () => {
    const config = parseConfig([
      'upstream: { protocol: h2c }',
      'healthCheck: { type: grpc, grpcService: my.Service }',
      'backends:',
      '  - url: http://10.0.0.1:50051',
      '  - url: https://10.0.0.2:443',
      '    protocol: h2',
      '  - url: http://10.0.0.3:80',
      '    protocol: http1',
    ].join('\n'), '/x/config.yaml');
    expect(config.upstream.protocol).to.equal('h2c');
    expect(config.healthCheck.type).to.equal('grpc');
    expect(config.healthCheck.grpcService).to.equal('my.Service');
    expect(config.backends.map((b) => b.protocol)).to.deep.equal([undefined, 'h2', 'http1']);
    expect(parseConfig('backends: [http://10.0.0.1:80]\n', '/x/config.yaml').upstream.protocol).to.equal(DEFAULTS.upstream.protocol);
  });

  it('rejects an unknown protocol, h2 on http:// and h2c on https://', () => {
    expect(problems([
      'upstream: { protocol: http3 }',
      'backends:',
      '  - { url: "http://10.0.0.1:80", protocol: h2 }',
      '  - { url: "https://10.0.0.2:443", protocol: h2c }',
    ].join('\n'))).to.deep.equal([
      '1:23 upstream.protocol: "http3" is not one of http1, h2c, h2',
      '3:44 backends[0].protocol: h2 needs an https:// backend; use h2c for HTTP/2 in cleartext',
      '4:46 backends[1].protocol: h2c is cleartext; use h2 for an https:// backend',
    ]);
  });

  it('rejects a health check timeout longer than its interval', () => {
    expect(problems('backends: [http://a:1]\nhealthCheck: { interval: 1s, timeout: 2s }\n')).to.deep.equal(['2:39 healthCheck.timeout: must not be longer than healthCheck.interval']);
  });
});

describe('listen addresses and backend URLs', () => {
  it('parses "[host]:port" forms', () => {
    expect(parseListen(':8080')).to.deep.equal({ host: undefined, port: 8080, text: ':8080' });
    expect(parseListen('0.0.0.0:0')).to.deep.include({ host: '0.0.0.0', port: 0 });
    expect(parseListen('[::]:9901')).to.deep.include({ host: '::', port: 9901 });
    expect(parseListen('8080')).to.match(/not a listen address/);
    expect(parseListen(':99999')).to.match(/out of range/);
  });

  it('normalises backend URLs to origins and refuses paths, credentials and other schemes', () => {
    expect(normaliseBackendUrl('http://Example.COM')).to.equal('http://example.com:80');
    expect(normaliseBackendUrl('https://a:8443/')).to.equal('https://a:8443');
    expect(normaliseBackendUrl('http://a:1/api')).to.match(/^!.*without a path/);
    expect(normaliseBackendUrl('http://u:p@a:1')).to.match(/^!.*credentials/);
    expect(normaliseBackendUrl('tcp://a:1')).to.match(/^!.*http:\/\/ or https:\/\//);
    expect(normaliseBackendUrl('a:1')).to.match(/^!/);
  });
});
