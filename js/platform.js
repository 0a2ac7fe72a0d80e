'use strict';
// The platform key that names prebuilt binaries: wasm-socket-bridge.<key>.node

function platformKey() {
  const { platform, arch } = process;
  if (platform !== 'linux') return `${platform}-${arch}`;
  const report = process.report && process.report.getReport ? process.report.getReport() : null;
  const glibc = report && report.header && report.header.glibcVersionRuntime;
  return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
}

module.exports = { platformKey, binaryName: () => `wasm-socket-bridge.${platformKey()}.node` };
