import type { FoundLibrary, MissingLibrary } from './cudaLibs';

/** The GPU check's result (exit-lens doctor, "Exit Lens: Check GPU Setup"), and how it reads. */
export interface DoctorEntry {
  provider: string;
  usable: boolean;
  /** Why not, exactly (null when usable). */
  reason: string | null;
  /** The one thing to do next (null when usable). */
  nextStep: string | null;
  precision: { precision: string; reason: string } | null;
  /** Largest difference of the probe's output from the exact one (null when it did not run). */
  probeError: number | null;
}

export interface DoctorReport {
  tool: string;
  onnxRuntime: string | null;
  platform: string;
  node: string;
  gpuPrecision: { asked: string; cuda: { precision: string; reason: string } };
  entries: DoctorEntry[];
  cuda: {
    providerLibrary: string | null;
    installed: boolean;
    /** The ONNX Runtime version recorded by Exit Lens's setup; null when installed otherwise. */
    setupVersion?: string | null;
    found: FoundLibrary[];
    missing: MissingLibrary[];
    addToPath: string[];
    libraryPath: string;
  };
  webgpu: { drivers: { manifest: string; library: string; software: boolean }[] };
}

const NAMES: Record<string, string> = { cuda: 'CUDA', webgpu: 'WebGPU', cpu: 'CPU', tensorrt: 'TensorRT' };

export function providerLabel(p: string): string {
  return NAMES[p] ?? p.toUpperCase();
}

/** The first usable provider in the default order, as the run would pick it. */
export function firstUsable(r: DoctorReport): string | null {
  return r.entries.find((e) => e.usable)?.provider ?? null;
}

/** Plain text for a terminal. */
export function doctorText(r: DoctorReport): string {
  const lines: string[] = [];
  lines.push(`Exit Lens ${r.tool} · ONNX Runtime ${r.onnxRuntime ?? '?'} · ${r.platform} · Node ${r.node}`);
  lines.push('');
  for (const e of r.entries) {
    const head = `${providerLabel(e.provider).padEnd(8)} ${e.usable ? 'usable' : 'not usable'}`;
    if (e.usable) lines.push(`${head}${e.precision ? ` (${e.precision.reason})` : ''}`);
    else {
      lines.push(`${head}: ${e.reason}`);
      if (e.nextStep) lines.push(`         next: ${e.nextStep}`);
    }
  }
  const use = firstUsable(r);
  lines.push('');
  lines.push(
    `A profile with the default order (cuda, webgpu, cpu) runs on: ${use ? providerLabel(use) : 'nothing (see above)'}.`,
  );
  if (r.cuda.installed) {
    lines.push('');
    lines.push(`CUDA provider: ${r.cuda.providerLibrary}`);
    lines.push(
      r.cuda.setupVersion
        ? `  installed by Exit Lens's setup for ONNX Runtime ${r.cuda.setupVersion}`
        : "  not installed by Exit Lens's setup: its ONNX Runtime version is not checked (a mismatch fails when a session starts)",
    );
    for (const f of r.cuda.found) lines.push(`  found   ${f.name.padEnd(20)} ${f.path} (${f.source})`);
    for (const m of r.cuda.missing) lines.push(`  missing ${m.name.padEnd(20)} ${m.provides}`);
    if (r.cuda.addToPath.length)
      lines.push(`  LD_LIBRARY_PATH gains: ${r.cuda.addToPath.join(':')} (Exit Lens sets it for its runs)`);
  }
  lines.push(`CUDA precision asked: ${r.gpuPrecision.asked} (--gpu-precision, setting exitLens.gpuPrecision)`);
  if (r.webgpu.drivers.length) {
    lines.push(
      `Vulkan drivers: ${r.webgpu.drivers.map((d) => `${d.library || d.manifest}${d.software ? ' (software)' : ''}`).join(', ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function md(s: string): string {
  return s.replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`);
}

/** Markdown for the editor. */
export function doctorMarkdown(r: DoctorReport): string {
  const out: string[] = [];
  out.push('# Exit Lens: GPU setup');
  out.push('');
  out.push(`Exit Lens ${md(r.tool)} · ONNX Runtime ${md(r.onnxRuntime ?? '?')} · ${md(r.platform)}`);
  out.push('');
  out.push('| Provider | Usable | Why not | Next step |');
  out.push('| --- | --- | --- | --- |');
  for (const e of r.entries) {
    const usable = e.usable ? `yes${e.precision ? ` · ${md(e.precision.precision)}` : ''}` : 'no';
    out.push(`| ${providerLabel(e.provider)} | ${usable} | ${md(e.reason ?? '')} | ${md(e.nextStep ?? '')} |`);
  }
  const use = firstUsable(r);
  out.push('');
  out.push(`With the default order (cuda, webgpu, cpu) a profile runs on **${use ? providerLabel(use) : 'nothing'}**.`);
  if (r.cuda.installed) {
    out.push('');
    out.push('## CUDA libraries');
    out.push('');
    for (const f of r.cuda.found) out.push(`- found \`${f.name}\`: ${md(f.path)} (${md(f.source)})`);
    for (const m of r.cuda.missing) out.push(`- **missing** \`${m.name}\`: ${md(m.provides)}`);
  }
  out.push('');
  out.push(`CUDA precision asked: **${md(r.gpuPrecision.asked)}** (setting \`exitLens.gpuPrecision\`).`);
  return `${out.join('\n')}\n`;
}
