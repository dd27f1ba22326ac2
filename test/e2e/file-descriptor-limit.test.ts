// Issue 7, failure 3: at the file-descriptor limit, health probes failed with EMFILE and marked
// healthy backends unhealthy: sluice's own resource problem was blamed on the backends. Now a
// local error (EMFILE, ENFILE, EADDRNOTAVAIL) is recorded on the probe but changes no backend's
// state, and traffic that cannot open an upstream socket gets 503 without a failure counted.
//
// The descriptor limit is lowered on the running sluice with prlimit(1) (util-linux), so sluice is
// started exactly as everywhere else; limits.maxConnections is set high on purpose so that client
// connections can use up the descriptors the "auto" default would have kept in reserve.

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import { Client } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { RawClient, configWithProbes } from '../helpers/raw-http.ts';
import type { StatusDocument } from '../helpers/sluice-process.ts';

function softNofile(pid: number): { soft: number; hard: string } {
  const out = execFileSync('prlimit', ['--pid', String(pid), '--nofile', '--output=SOFT,HARD', '--noheadings', '--raw'], { encoding: 'utf8' }).trim();
  const [soft, hard] = out.split(/\s+/);
  return { soft: Number(soft), hard };
}

function setSoftNofile(pid: number, soft: number, hard: string): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:${hard}`]);
}

describe('file descriptor limit (e2e)', () => {
  const clients: RawClient[] = [];
  let admin: Client | undefined;
  let restore: (() => void) | undefined;
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    restore?.();
    restore = undefined;
    await admin?.destroy();
    admin = undefined;
  });
  const h = harnessPerTest();

  it('does not blame backends for EMFILE: probes record it, states stay healthy, traffic gets 503', async () => {
    const sluice = await h.start(2, {
      config: (urls) => configWithProbes({ interval: '300ms', timeout: '300ms', healthyThreshold: 1, unhealthyThreshold: 3 },
        'limits:\n  maxConnections: 10000\ntimeouts:\n  clientHeader: 1m\n  clientIdle: 1m', urls),
    });
    const pid = sluice.pid;
    // Opened before the limit is lowered: one admin connection to watch /status on, and one proxy
    // connection to send a request on once no new descriptor can be had.
    admin = new Client(sluice.adminUrl, { pipelining: 1 });
    const status = async (): Promise<StatusDocument> => {
      const res = await admin!.request({ path: '/status', method: 'GET' });
      return (await res.body.json()) as StatusDocument;
    };
    await status();
    const waiting = await RawClient.open(sluice.proxy);
    clients.push(waiting);
    await eventually(async () => (await status()).backends.length === 2, 'the admin connection to work');

    const { soft, hard } = softNofile(pid);
    const open = readdirSync(`/proc/${pid}/fd`).length;
    setSoftNofile(pid, open + 8, hard);
    restore = () => {
      try { setSoftNofile(pid, soft, hard); } catch { /* the process is gone */ }
    };
    // Client connections take whatever descriptors are left.
    for (let i = 0; i < 40; i++) {
      const filler = new RawClient(sluice.proxy);
      filler.socket.on('error', () => {});
      clients.push(filler);
    }

    // Several probes per backend fail with EMFILE; none of them moves a state.
    const emfileProbes = new Map<string, Set<string>>();
    await eventually(async () => {
      const doc = await status();
      for (const b of doc.backends) {
        expect(b.state, `${b.url} while probes hit EMFILE (last probe: ${JSON.stringify(b.lastProbe)})`).to.equal('healthy');
        if (b.lastProbe && /EMFILE/.test(b.lastProbe.error ?? '')) {
          const seen = emfileProbes.get(b.url) ?? new Set<string>();
          seen.add(String((b.lastProbe as { at?: string }).at));
          emfileProbes.set(b.url, seen);
        }
      }
      return doc.backends.every((b) => (emfileProbes.get(b.url)?.size ?? 0) >= 4);
    }, 'four probes per backend to fail with EMFILE', 15_000, 50);

    // Traffic cannot open an upstream socket either: 503, and still nobody's fault upstream.
    waiting.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [res] = await waiting.waitForResponses(1, 'an answer while out of descriptors');
    expect(res.status, res.body).to.equal(503);
    const doc = await status();
    expect(doc.backends.map((b) => b.state)).to.deep.equal(['healthy', 'healthy']);
    expect(doc.backends.map((b) => b.failures)).to.deep.equal([0, 0]);
    expect(doc.backends.map((b) => b.healthy)).to.deep.equal([true, true]);

    // Descriptors back: probes pass again and traffic flows.
    for (const c of clients.splice(0)) c.destroy();
    restore();
    await eventually(async () => (await status()).backends.every((b) => b.lastProbe?.ok === true), 'probes to pass again');
    await eventually(async () => {
      const res = await fetch(sluice.proxyUrl + '/');
      await res.text();
      return res.status === 200;
    }, 'traffic to flow again');
  });
});
