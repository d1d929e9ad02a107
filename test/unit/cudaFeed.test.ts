/**
 * The CUDA provider installer against a NuGet-like feed served on 127.0.0.1 (registration leaf,
 * catalog entry, a redirect to the package): the libraries land with their bytes and the
 * manifest's hashes are theirs; progress climbs to the total; a cancelled, corrupt, oversized,
 * wrong-version or wrong-kind download leaves the folder as it was; an unreachable, silent,
 * stalling or redirecting feed names the package to fetch elsewhere.
 */
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CudaProgress, installCudaProvider } from '../../src/gpu/cudaInstall';
import { installedCudaProvider } from '../../src/gpu/cudaManifest';
import { ExitLensError } from '../../src/core/errors';
import { tmpDir } from './helpers';
import { providerLibraryBytes } from './support/elfBuilder';
import {
  assertInstalled,
  buildPackage,
  closeServer,
  CUDA,
  download,
  install,
  libraries,
  listen,
  NATIVE,
  ORT,
  packageUrl,
  refusal,
  sha256,
  sha512b64,
  SHARED,
  snapshot,
  targetDir,
  withFeed,
} from './support/nugetFeed';

describe('CUDA provider: download from the feed', () => {
  it('downloads (through a redirect), verifies and installs; the manifest holds the files’ hashes', async () => {
    const libs = libraries();
    const nupkg = buildPackage({ libs });
    const dir = targetDir();
    const events: CudaProgress[] = [];
    await withFeed({ nupkg }, async (feed) => {
      const result = await download(feed, dir, { onProgress: (p) => events.push(p) });
      assert.equal(result.status, 'installed');
      assert.equal(result.version, ORT);
      assert.ok(
        feed.requests.some((r) => r.startsWith('/cdn/')),
        'the redirect was followed',
      );
      assert.equal(result.package.source.kind, 'download');
      assert.equal(result.package.source.kind === 'download' && result.package.source.url, packageUrl(feed.base));
      assert.equal(result.package.sha512Base64, sha512b64(nupkg));
      assert.deepEqual(
        Object.fromEntries(result.files.map((f) => [f.name, f.sha256])),
        Object.fromEntries(Object.entries(libs).map(([n, b]) => [n, sha256(b)])),
      );
    });
    assertInstalled(dir, libs, nupkg);
    const state = await installedCudaProvider(dir);
    assert.deepEqual([state.installed, state.version, state.problems], [true, ORT, []]);

    // Progress: phases in order; download bytes climb to the package size; extraction to the libraries' size.
    const order = ['resolve', 'download', 'verify', 'extract'];
    const phases = events.map((e) => order.indexOf(e.phase));
    assert.deepEqual(
      phases,
      [...phases].sort((a, b) => a - b),
      'phases come in order',
    );
    assert.deepEqual([...new Set(events.map((e) => e.phase))], order);
    for (const [phase, total] of [
      ['download', nupkg.length],
      ['extract', Object.values(libs).reduce((s, b) => s + b.length, 0)],
    ] as const) {
      const seen = events.filter((e) => e.phase === phase);
      assert.ok(seen.length >= 3, `${phase}: several progress events (${seen.length})`);
      for (let i = 1; i < seen.length; i++) {
        assert.ok(seen[i].received >= seen[i - 1].received, `${phase} is monotonic`);
      }
      assert.ok(
        seen.every((e) => e.total === total),
        `${phase}: total ${total}`,
      );
      assert.equal(seen[0].received, 0);
      assert.equal(seen[seen.length - 1].received, total);
    }
  });

  it('a second install of the same version is reported as already installed, without a download', async () => {
    const libs = libraries(100_000);
    const nupkg = buildPackage({ libs });
    const dir = targetDir();
    await withFeed({ nupkg, gzipJson: true }, async (feed) => {
      await download(feed, dir);
      const before = snapshot(dir);
      const mtime = fs.statSync(path.join(dir, CUDA)).mtimeMs;
      const asked = feed.requests.length;
      const again = await download(feed, dir);
      assert.equal(again.status, 'already-installed');
      assert.equal(again.version, ORT);
      assert.equal(feed.requests.length, asked, 'the feed was not asked again');
      assert.deepEqual(snapshot(dir), before);
      assert.equal(fs.statSync(path.join(dir, CUDA)).mtimeMs, mtime);

      // A changed library is seen, and the next setup puts the package's bytes back.
      fs.writeFileSync(path.join(dir, SHARED), Buffer.concat([libs[SHARED].subarray(1), Buffer.from('x')]));
      const state = await installedCudaProvider(dir);
      assert.equal(state.installed, false);
      assert.ok(
        state.problems.some((p) => p.includes(SHARED)),
        state.problems.join(' '),
      );
      const repaired = await download(feed, dir);
      assert.equal(repaired.status, 'installed');
      assertInstalled(dir, libs, nupkg);
    });
  });

  it('cancelling during the download removes the partial file and leaves the folder as it was', async () => {
    const nupkg = buildPackage({ libs: libraries(3 * 1024 * 1024) });
    const dir = targetDir();
    fs.writeFileSync(path.join(dir, SHARED), 'an older shared provider');
    const before = snapshot(dir);
    const controller = new AbortController();
    let partialSeen = false;
    await withFeed({ nupkg, slow: { chunkBytes: 32 * 1024, delayMs: 10 } }, async (feed) => {
      const err = await download(feed, dir, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase !== 'download' || p.received === 0 || p.received === p.total) return;
          // Part of the package is in its temporary file now.
          partialSeen = fs.readdirSync(dir).some((n) => n.includes('.nupkg.'));
          controller.abort();
        },
      }).then(
        () => assert.fail('expected cancellation'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ExitLensError && err.code === 'cancelled', String(err));
    });
    assert.ok(partialSeen, 'a partial download existed before the cancel');
    assert.deepEqual(snapshot(dir), before);
  });

  it('cancelling while the libraries are extracted leaves the folder as it was', async () => {
    const nupkg = buildPackage({ libs: libraries(4 * 1024 * 1024) });
    const file = path.join(tmpDir(), 'gpu.nupkg');
    fs.writeFileSync(file, nupkg);
    const dir = targetDir();
    const before = snapshot(dir);
    const controller = new AbortController();
    let extracting = false;
    const err = await install({
      source: { kind: 'file', path: file },
      targetDir: dir,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'extract' && p.received > 0 && !extracting) {
          extracting = true;
          controller.abort();
        }
      },
    }).catch((e: unknown) => e);
    assert.ok(extracting, 'the extraction had begun');
    assert.ok(err instanceof ExitLensError && err.code === 'cancelled', String(err));
    assert.deepEqual(snapshot(dir), before);
  });

  it('refuses platforms without a CUDA package', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await refusal(
      installCudaProvider({
        source: { kind: 'download', feedBase: 'http://127.0.0.1:9' },
        targetDir: dir,
        platform: { platform: 'win32', arch: 'x64' },
      }),
    );
    assert.equal(err.problem, 'unsupported-platform');
    assert.match(err.message, /Windows/);
    assert.deepEqual(snapshot(dir), before);
  });

  it('an install already cancelled does nothing', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await install({
      source: { kind: 'download', feedBase: 'http://127.0.0.1:9' },
      targetDir: dir,
      signal: AbortSignal.abort(),
    }).catch((e: unknown) => e);
    assert.ok(err instanceof ExitLensError && err.code === 'cancelled');
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package whose hash differs from the catalog’s (or the caller’s) is refused and deleted', async () => {
    const nupkg = buildPackage({ libs: libraries(50_000) });
    const other = Buffer.from(nupkg);
    other[100] ^= 0xff;
    const dir = targetDir();
    const before = snapshot(dir);
    await withFeed({ nupkg, catalog: { packageHash: sha512b64(other) } }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'hash-mismatch');
      assert.ok(err.message.includes(sha512b64(other)), err.message);
      assert.ok(err.message.includes(sha512b64(nupkg)), err.message);
    });
    assert.deepEqual(snapshot(dir), before);
    await withFeed({ nupkg }, async (feed) => {
      const wrong = sha256(other);
      const err = await refusal(download(feed, dir, { expected: { sha256: wrong } }));
      assert.equal(err.problem, 'hash-mismatch');
      assert.ok(err.message.includes(wrong) && err.message.includes(sha256(nupkg)), err.message);
    });
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package larger or smaller than the catalog says, or over the cap, is refused', async () => {
    const nupkg = buildPackage({ libs: libraries(50_000) });
    const dir = targetDir();
    const before = snapshot(dir);
    const n = nupkg.length;
    // The server announces more than the catalog: refused before reading.
    await withFeed({ nupkg, catalog: { packageSize: n - 10 } }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'size-mismatch');
      assert.ok(err.message.includes(String(n - 10)) && err.message.includes(String(n)), err.message);
    });
    // No length announced, more bytes sent than the catalog says: the transfer is stopped.
    await withFeed({ nupkg, catalog: { packageSize: n }, trailing: crypto.randomBytes(200_000) }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'size-mismatch');
      assert.ok(err.message.includes(String(n)), err.message);
    });
    // Fewer bytes than the catalog says.
    await withFeed({ nupkg, catalog: { packageSize: n + 10 }, contentLength: false }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'size-mismatch');
      assert.ok(err.message.includes(String(n + 10)) && err.message.includes(String(n)), err.message);
    });
    // Over the cap: not even requested.
    await withFeed({ nupkg }, async (feed) => {
      const err = await refusal(download(feed, dir, { maxPackageBytes: n - 1 }));
      assert.equal(err.problem, 'too-large');
      assert.ok(!feed.requests.some((r) => r.includes('.nupkg')), feed.requests.join(' '));
    });
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package for another ONNX Runtime version is refused, naming both versions', async () => {
    const nupkg = buildPackage({ version: '1.29.0', libs: libraries(20_000) });
    assert.notEqual(ORT, '1.29.0');
    const dir = targetDir();
    const before = snapshot(dir);
    await withFeed({ nupkg }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'wrong-version');
      assert.ok(err.message.includes("ONNX Runtime 1.29.0's CUDA provider"), err.message);
      assert.ok(err.message.includes(`the bundled ONNX Runtime is ${ORT}`), err.message);
    });
    const file = path.join(tmpDir(), 'old.nupkg');
    fs.writeFileSync(file, nupkg);
    const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
    assert.equal(err.problem, 'wrong-version');
    assert.ok(err.message.includes('1.29.0') && err.message.includes(ORT), err.message);
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package whose library was built for another ONNX Runtime than its .nuspec says is refused', async () => {
    // A shared library whose .rodata holds ONNX Runtime 1.29.0's version string, as the real
    // 1.29.0 CUDA provider keeps it ("Replay", "1.29.0", "Failed to get device id.").
    const libs = libraries(20_000);
    libs[CUDA] = providerLibraryBytes({ version: '1.29.0' });
    assert.notEqual(ORT, '1.29.0');
    const file = path.join(tmpDir(), 'mislabelled.nupkg');
    fs.writeFileSync(file, buildPackage({ libs }));
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
    assert.equal(err.problem, 'wrong-version');
    assert.ok(err.message.includes('built for ONNX Runtime 1.29.0'), err.message);
    assert.ok(err.message.includes(`the bundled ONNX Runtime is ${ORT}`), err.message);
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package that is not the GPU runtime is refused', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    const cpu = buildPackage({
      id: 'Microsoft.ML.OnnxRuntime',
      extra: { [NATIVE + 'libonnxruntime.so']: Buffer.from('x') },
    });
    await withFeed({ nupkg: cpu }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'not-gpu-package');
      assert.ok(err.message.includes('Microsoft.ML.OnnxRuntime ' + ORT), err.message);
    });
    const empty = buildPackage({ libs: {} });
    await withFeed({ nupkg: empty }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'not-gpu-package');
      assert.ok(err.message.includes(NATIVE + CUDA), err.message);
    });
    const cudaOnly = buildPackage({ libs: { [CUDA]: Buffer.from('cuda') } });
    const noNuspec = buildPackage({ libs: libraries(1000), noNuspec: true });
    const notZip = Buffer.from('<html>not a package</html>');
    const src = tmpDir();
    for (const [name, bytes, problem, words] of [
      ['cuda-only.nupkg', cudaOnly, 'not-gpu-package', SHARED],
      ['no-nuspec.nupkg', noNuspec, 'bad-package', 'no .nuspec'],
      ['page.nupkg', notZip, 'bad-package', 'not a zip'],
    ] as const) {
      const file = path.join(src, name);
      fs.writeFileSync(file, bytes);
      const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
      assert.equal(err.problem, problem, name);
      assert.ok(err.message.includes(words), err.message);
    }
    assert.deepEqual(snapshot(dir), before);
  });
});

describe('CUDA provider: network failures', () => {
  it('an unreachable feed says so and names the package to download on another machine', async () => {
    const probe = http.createServer();
    const port = await listen(probe);
    await closeServer(probe);
    const base = `http://127.0.0.1:${port}`;
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await refusal(
      install({ source: { kind: 'download', feedBase: base }, targetDir: dir, timeoutMs: 5000 }),
    );
    assert.equal(err.problem, 'offline');
    assert.match(err.message, /Could not reach the package feed/);
    assert.match(err.message, /connection refused/);
    assert.equal(err.packageUrl, packageUrl(base));
    assert.ok(err.hint?.includes(packageUrl(base)), err.hint);
    assert.match(err.hint ?? '', /install .* from that package file/);
    assert.deepEqual(snapshot(dir), before);
  });

  it('a feed that does not answer, or stalls mid-download, times out and leaves nothing', async () => {
    const silent = http.createServer(() => undefined);
    const port = await listen(silent);
    const dir = targetDir();
    const before = snapshot(dir);
    try {
      const started = Date.now();
      const err = await refusal(
        install({
          source: { kind: 'download', feedBase: `http://127.0.0.1:${port}` },
          targetDir: dir,
          timeoutMs: 300,
        }),
      );
      assert.equal(err.problem, 'offline');
      assert.match(err.message, /no answer for 0.3 s/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      await closeServer(silent);
    }
    const nupkg = buildPackage({ libs: libraries(200_000) });
    await withFeed({ nupkg, stallAfter: 50_000 }, async (feed) => {
      const err = await refusal(download(feed, dir, { timeoutMs: 300 }));
      assert.equal(err.problem, 'offline');
      assert.match(err.message, /interrupted/);
    });
    assert.deepEqual(snapshot(dir), before);
  });

  it('a redirect to plain http elsewhere is not followed, and redirect loops end', async () => {
    const nupkg = buildPackage({ libs: libraries(1000) });
    const dir = targetDir();
    const before = snapshot(dir);
    await withFeed({ nupkg, redirect: 'insecure' }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'feed');
      assert.match(err.message, /http:\/\/localhost:\d+\/cdn\/.* was not followed/);
      assert.ok(!feed.requests.some((r) => r.startsWith('/cdn/')));
    });
    await withFeed({ nupkg, redirect: 'loop' }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'feed');
      assert.match(err.message, /redirected more than \d+ times/);
      const hops = feed.requests.filter((r) => r.endsWith('.nupkg')).length;
      assert.ok(hops > 1 && hops < 10, `${hops} requests`);
    });
    assert.deepEqual(snapshot(dir), before);
  });
});
