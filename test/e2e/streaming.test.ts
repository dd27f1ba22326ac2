import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerSuite } from '../helpers/harness.ts';
import { testConfig } from '../helpers/sluice-process.ts';

const MB = 1024 * 1024;

/** Peak resident memory of a process (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** The largest size the kernel lets a TCP socket buffer grow to (the third field of tcp_wmem/tcp_rmem). */
function kernelBufferMax(name: 'tcp_wmem' | 'tcp_rmem'): number {
  return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2]);
}

function generated(bytes: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 'y');
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

describe('streaming bodies (e2e)', function () {
  this.timeout(60_000);
  // Probes far apart and patient: 200 MB through a loaded machine must not make the one backend
  // look unhealthy (this suite is about streaming, not health).
  const h = harnessPerSuite(1, { config: (urls) => testConfig(urls).replace('interval: 300ms', 'interval: 2s').replace('timeout: 300ms', 'timeout: 2s') });

  it('streams a 200 MB download and a 200 MB upload with backpressure, not buffering', async () => {
    const baseline = peakRssMb(h.sluice.pid);
    const size = 200 * MB;

    const down = await request(`${h.sluice.proxyUrl}/download?bytes=${size}`);
    expect(down.statusCode).to.equal(200);
    expect(down.headers['content-length']).to.equal(String(size));
    let received = 0;
    for await (const chunk of down.body) received += (chunk as Buffer).length;
    expect(received).to.equal(size);

    const up = await request(`${h.sluice.proxyUrl}/upload`, { method: 'POST', body: generated(size), headers: { 'content-type': 'application/octet-stream' } });
    expect(up.statusCode).to.equal(200);
    expect(await up.body.json()).to.deep.equal({ backend: 'b1', bytes: size });

    // Buffering either body would grow the process by at least 200 MB. Streaming grows it only by
    // garbage not yet collected (about 70 MB here), so the bound sits between the two.
    const growth = peakRssMb(h.sluice.pid) - baseline;
    console.log(`      peak RSS ${baseline.toFixed(0)} MB before, grew ${growth.toFixed(0)} MB over both transfers`);
    expect(growth).to.be.lessThan(150);
  });

  it('stops pulling from the backend while the client is not reading', async () => {
    const size = 200 * MB;
    const down = await request(`${h.sluice.proxyUrl}/download?bytes=${size}`);
    expect(down.statusCode).to.equal(200);
    // Do not read: the backend must stall once socket buffers on both hops are full.
    let last = -1;
    await eventually(async () => {
      const sent = h.backends[0].downloadSent;
      const stalled = sent === last;
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return stalled && sent > 0;
    }, 'the backend to stall');
    // What may sit in flight: both TCP hops (backend→sluice, sluice→client) at their kernel buffer
    // maximum, send and receive side, plus sluice's own stream buffers; autotuning decides how much
    // of that is used, so the bound follows the kernel's settings rather than a fixed number.
    const inFlightBound = 2 * (kernelBufferMax('tcp_wmem') + kernelBufferMax('tcp_rmem')) + 16 * MB;
    expect(h.backends[0].downloadSent).to.be.lessThan(Math.min(inFlightBound, size / 2));
    let received = 0;
    for await (const chunk of down.body) received += (chunk as Buffer).length;
    expect(received).to.equal(size);
    expect(h.backends[0].downloadSent).to.equal(size);
    const status = await h.sluice.status();
    // Even a long stall on the client's side is never held against the backend.
    expect(status.backends[0].state).to.equal('healthy');
  });

  it('streams a chunked upload of unknown length', async () => {
    const up = await request(`${h.sluice.proxyUrl}/upload`, { method: 'PUT', body: generated(5 * MB) });
    expect(up.statusCode).to.equal(200);
    expect(await up.body.json()).to.deep.equal({ backend: 'b1', bytes: 5 * MB });
  });
});
