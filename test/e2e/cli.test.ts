import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SLUICE_BIN, SluiceProcess, testConfig } from '../helpers/sluice-process.ts';

function sluice(args: string[], cwd?: string): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [SLUICE_BIN, ...args], { encoding: 'utf8', cwd, timeout: 15_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('command line (e2e)', () => {
  const cleanup: SluiceProcess[] = [];
  afterEach(async () => {
    for (const p of cleanup.splice(0)) await p.stop();
  });

  it('validate exits 0 for a good config and says what it found', () => {
    const p = new SluiceProcess(testConfig(['http://127.0.0.1:8081', 'http://127.0.0.1:8082']));
    cleanup.push(p);
    const r = sluice(['validate', '--config', p.configPath]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/is valid: 2 static backend\(s\)/);
    expect(r.stdout).to.match(/, health checks \/health every 300ms\n$/);
  });

  it('validate names the gRPC health check, not a path, for healthCheck.type grpc', () => {
    const grpc = (service: string): string => {
      const p = new SluiceProcess(testConfig(['http://127.0.0.1:8081'], `  type: grpc\n  grpcService: "${service}"\n  path: /unused`));
      cleanup.push(p);
      const r = sluice(['validate', '--config', p.configPath]);
      expect(r.code, r.stderr).to.equal(0);
      return r.stdout;
    };
    expect(grpc('greeter.v1.Greeter')).to.match(/, gRPC health checks \(service greeter\.v1\.Greeter\) every 300ms\n$/);
    const whole = grpc('');
    expect(whole).to.match(/, gRPC health checks \(server health\) every 300ms\n$/);
    expect(whole).to.not.include('/unused');
  });

  it('validate exits 2 and lists every problem with file, line, column and key path', () => {
    const p = new SluiceProcess([
      'listen: 8080x',
      'balancer: fastest',
      'healthCheck:',
      '  interval: -1s',
      '  timeout: 2',
      '  unhealthyTreshold: 3',
      'backends:',
      '  - url: http://127.0.0.1:8081',
      '  - url: http://127.0.0.1:8081/',
      '  - url: ftp://nope',
      '    weight: 0',
      '',
    ].join('\n'));
    cleanup.push(p);
    const r = sluice(['validate', '--config', p.configPath]);
    expect(r.code).to.equal(2);
    const file = p.configPath;
    expect(r.stderr).to.include(`${file}:1:9: listen: "8080x" is not a listen address`);
    expect(r.stderr).to.include(`${file}:2:11: balancer: "fastest" is not one of round-robin, weighted-round-robin, least-request, random, consistent-hash`);
    expect(r.stderr).to.include(`${file}:4:13: healthCheck.interval: "-1s" is negative`);
    expect(r.stderr).to.include(`${file}:5:12: healthCheck.timeout: 2 has no unit`);
    expect(r.stderr).to.include(`${file}:6:3: healthCheck.unhealthyTreshold: unknown key (did you mean "unhealthyThreshold"?)`);
    expect(r.stderr).to.include(`${file}:9:10: backends[1].url: duplicate backend http://127.0.0.1:8081 (also backends[0])`);
    expect(r.stderr).to.include(`${file}:10:10: backends[2].url: "ftp://nope" must use http:// or https://`);
    expect(r.stderr).to.include(`${file}:11:13: backends[2].weight: must be a whole number of at least 1`);
    // Listed in file order.
    const lines = r.stderr.split('\n').filter((l) => l.includes(file)).map((l) => Number(l.split(':')[1]));
    expect(lines).to.deep.equal([...lines].sort((a, b) => a - b));
    expect(r.stderr).to.not.match(/\n\s+at /); // no stack trace
  });

  it('refuses to start on a bad config with exit 2 and one clear message', () => {
    const p = new SluiceProcess('backends: []\nretries: lots\n');
    cleanup.push(p);
    const r = sluice(['--config', p.configPath]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('retries: must be a number');
    expect(r.stdout).to.equal('');
  });

  it('exits 2 with one sentence for a missing config file', () => {
    const r = sluice(['--config', '/nonexistent/sluice.yaml']);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.equal('sluice: /nonexistent/sluice.yaml: cannot read config file (no such file)');
  });

  it('exits 2 for unknown options and commands', () => {
    expect(sluice(['--bogus']).code).to.equal(2);
    expect(sluice(['--bogus']).stderr).to.match(/unknown option --bogus/);
    expect(sluice(['frobnicate']).stderr).to.match(/unknown command "frobnicate"/);
    expect(sluice(['--log-level', 'loud']).code).to.equal(2);
  });

  it('prints help and version', () => {
    const help = sluice(['--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/sluice validate/);
    const version = sluice(['--version']);
    expect(version.code).to.equal(0);
    expect(version.stdout).to.match(/^sluice \d+\.\d+\.\d+ \(node v24\./);
  });

  it('exits 1 with one sentence when the proxy port is already in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const p = new SluiceProcess(testConfig(['http://127.0.0.1:1']).replace('listen: "127.0.0.1:0"', `listen: "127.0.0.1:${port}"`));
      cleanup.push(p);
      const r = sluice(['--config', p.configPath]);
      expect(r.code).to.equal(1);
      expect(r.stderr.trim()).to.equal(`sluice: cannot listen on "127.0.0.1:${port}" for the proxy listener: the address is already in use.`);
    } finally {
      blocker.close();
    }
  });

  it('reads ./config.yaml by default', async () => {
    const p = new SluiceProcess(testConfig(['http://127.0.0.1:1']));
    cleanup.push(p);
    await p.start(0, []);
    const status = await p.status();
    expect(status.config.file).to.equal(p.configPath);
  });
});
