// Runs a MicroPython script on the 32-bit webassembly port (the pinned npm package):
//   node run.mjs STAGE_DIR SCRIPT [HEAP_BYTES]
// STAGE_DIR is copied into the port's in-memory file system as /stage (first on
// sys.path). SCRIPT is split at lines "#---": each part runs as its own top-level call.
// This port collects only between top-level calls (gc.collect() inside one marks a
// collection pending: the wasm stack cannot be scanned), so a part that wants the live
// heap reads gc.mem_alloc() at its start, after the previous part's collection.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "fs";
import path from "path";

const [stage, script, heap] = process.argv.slice(2);
const mp = await loadMicroPython({
  heapsize: parseInt(heap || "1048576"),
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copy(src, dst) {
  mp.FS.mkdirTree(dst);
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    if (e.isDirectory()) copy(s, dst + "/" + e.name);
    else mp.FS.writeFile(dst + "/" + e.name, fs.readFileSync(s));
  }
}

copy(stage, "/stage");
try {
  mp.runPython("import sys, gc\nsys.path.insert(0, '/stage')");
  for (const part of fs.readFileSync(script, "utf8").split("#---\n")) {
    mp.runPython(part + "\ngc.collect()\n");
    mp.runPython("pass");  // the pending collection runs here, at the top level
  }
} catch (e) {
  process.stderr.write(String(e) + "\n");
  process.exit(1);
}
