// Run an mlengine portable export (model.onnx, exported with export_onnx=True) in
// onnxruntime-node, outside Python: the way a JavaScript client would use it.
//
//   node predict.mjs EXPORT_DIR INSTANCES_JSONL IDS_JSON
//
// EXPORT_DIR's saved_model.json lists the graph's inputs (members.onnx.inputs). A "feature"
// input is read straight from each raw instance (one JSON object per line, as the talk's
// census.json): strings as they are (the graph strips the spaces around them), "" when
// missing; numbers as float32, NaN when missing; integers as int64, -1 when missing. An "ids"
// input (a hash bucket or a cross: mlengine's stable hash, which ONNX cannot compute) comes
// from IDS_JSON, computed by mlengine beforehand. Prints {output: {dims, data}} as JSON.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";

const [exportDir, instancesPath, idsPath] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(exportDir, "saved_model.json"), "utf8"));
const member = manifest.members.onnx;
const instances = readFileSync(instancesPath, "utf8")
  .split("\n")
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line));
const ids = JSON.parse(readFileSync(idsPath, "utf8"));
const n = instances.length;

function featureTensor(input) {
  const values = instances.map((instance) => instance[input.name]);
  const dims = [n, ...input.shape.slice(1)];
  if (input.dtype === "string") {
    return new ort.Tensor("string", values.map((v) => (v == null ? "" : String(v))), dims);
  }
  if (input.dtype === "int64") {
    return new ort.Tensor("int64", BigInt64Array.from(values, (v) => BigInt(v == null ? -1 : v)), dims);
  }
  return new ort.Tensor("float32", Float32Array.from(values.flat(), (v) => (v == null ? NaN : v)), dims);
}

const feeds = {};
for (const input of member.inputs) {
  if (input.role === "ids") {
    feeds[input.name] = new ort.Tensor("int64", BigInt64Array.from(ids[input.name], BigInt), [n]);
  } else {
    feeds[input.name] = featureTensor(input);
  }
}

const session = await ort.InferenceSession.create(join(exportDir, member.path));
const results = await session.run(feeds);
const out = {};
for (const [name, tensor] of Object.entries(results)) {
  const data = Array.from(tensor.data, (v) => (typeof v === "bigint" ? Number(v) : v));
  out[name] = { dims: tensor.dims, data };
}
process.stdout.write(JSON.stringify(out));
