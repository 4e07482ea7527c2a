// Every Python function the page calls, in one place: the worker's entry points (py/gpt2cells/worker/).
// Nothing else in site/ spells a dotted Python name; each wrapper resolves with the function's return value.
//
//   const py = pythonApi(runtime);
//   await py.models.beginLoad(manifestJson);
//   const opened = await py.notebook.open(savedSources);

const MODELS = "gpt2cells.worker.models";
const NOTEBOOK = "gpt2cells.worker.notebook";
const HF_IMPORT = "gpt2cells.worker.hf_import";

export function pythonApi(runtime) {
  const call = async (fn, args = [], options = {}) => (await runtime.call(fn, args, {}, options)).value;
  return {
    models: {
      /** Start a load: the manifest as JSON text; the previous model leaves Python. */
      beginLoad: (manifestJson) => call(`${MODELS}.begin_load`, [manifestJson]),
      /** A tokenizer file's text, by its path in the zip. */
      putFile: (path, text) => call(`${MODELS}.put_file`, [path, text]),
      /** Tensors by name with their bytes; the ArrayBuffers are transferred to the worker, not copied. */
      putTensors: (names, buffers) => call(`${MODELS}.put_tensors`, [names, buffers], { transfer: buffers }),
      cancelLoad: () => call(`${MODELS}.cancel_load`),
      finishLoad: () => call(`${MODELS}.finish_load`),
      /** {name, config} of the model in Python, or null. */
      loaded: () => call(`${MODELS}.loaded`),
      logitsFor: (text) => call(`${MODELS}.logits_for`, [text]),
    },
    hf: {
      /** The JSON header's length from a .safetensors file's first 8 bytes (checked against its size). */
      headerLength: (first8, fileSize, fileName) => call(`${HF_IMPORT}.header_length`, [first8, fileSize, fileName]),
      /** Check config, headers and tokenizer; → {manifest, files, tensors: [{name, file, start, end, nbytes}], head}. */
      plan: (name, configText, headers, indexText, tokenizer) =>
        call(`${HF_IMPORT}.plan`, [name, configText, headers, indexText, tokenizer]),
      /** A stored lm_head.weight must equal wte.weight (raw bytes of both, as in their files). */
      checkHead: (wteBytes, headBytes) =>
        call(`${HF_IMPORT}.check_head`, [wteBytes, headBytes], { transfer: [wteBytes, headBytes] }),
      /** One tensor's bytes as in its file → the stored tensor's bytes (Uint8Array); the input is transferred. */
      convert: (name, raw) => call(`${HF_IMPORT}.convert`, [name, raw], { transfer: [raw] }),
      end: () => call(`${HF_IMPORT}.end`),
    },
    notebook: {
      open: (sources) => call(`${NOTEBOOK}.open`, [sources]),
      /** mode "all" | "cell" | "to"; onProgress receives the plan/start/done events as cells run. */
      /** layer: the layer the page shows (a long prompt's other layers get their Δ when shown: deltasAt). */
      run: (mode, cellId, sources, layer, onProgress) => call(`${NOTEBOOK}.run`, [mode, cellId, sources, layer], { onProgress }),
      /** The page shows another layer: the Δ of its block cells that waited for it. */
      deltasAt: (layer) => call(`${NOTEBOOK}.deltas_at`, [layer]),
      /** After a run that edited nothing on a new prompt: compare its values with the engine's for about `seconds`. */
      check: (seconds) => call(`${NOTEBOOK}.check`, [seconds]),
      /** float32 bytes of rows r0..r1, columns c0..c1 of one array output. */
      outputSlice: (cellId, path, layer, head, r0, r1, c0, c1) =>
        call(`${NOTEBOOK}.output_slice`, [cellId, path, layer, head, r0, r1, c0, c1]),
      /** The colour scale of one array output at a layer its description left without one. */
      outputScale: (cellId, path, layer) => call(`${NOTEBOOK}.output_scale`, [cellId, path, layer]),
      /** kind "reference" | "difference": the engine's value, or the cell's minus it, in the same window. */
      compareSlice: (kind, cellId, path, layer, head, r0, r1, c0, c1) =>
        call(`${NOTEBOOK}.compare_slice`, [kind, cellId, path, layer, head, r0, r1, c0, c1]),
      tokenText: (tokenId) => call(`${NOTEBOOK}.token_text`, [tokenId]),
      generateBegin: (settings) => call(`${NOTEBOOK}.generate_begin`, [settings]),
      /** Generate for about `seconds`; onToken receives each token as it is chosen. */
      generateFor: (seconds, onToken) => call(`${NOTEBOOK}.generate_for`, [seconds], { onProgress: onToken }),
      generateEnd: () => call(`${NOTEBOOK}.generate_end`),
      exportNotebook: (format, sources) => call(`${NOTEBOOK}.export_notebook`, [format, sources]),
      importNotebook: (text, fileName) => call(`${NOTEBOOK}.import_notebook`, [text, fileName]),
    },
  };
}
