// Every Python function the page calls, in one place: the worker's entry points (py/gpt2cells/worker/).
// Nothing else in site/ spells a dotted Python name; each wrapper resolves with the function's return value.
//
//   const py = pythonApi(runtime);
//   await py.models.beginLoad(manifestJson);
//   const opened = await py.notebook.open(savedSources);

const MODELS = "gpt2cells.worker.models";
const NOTEBOOK = "gpt2cells.worker.notebook";

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
    notebook: {
      open: (sources) => call(`${NOTEBOOK}.open`, [sources]),
      /** mode "all" | "cell" | "to"; onProgress receives the plan/start/done events as cells run. */
      run: (mode, cellId, sources, onProgress) => call(`${NOTEBOOK}.run`, [mode, cellId, sources], { onProgress }),
      /** float32 bytes of rows r0..r1, columns c0..c1 of one array output. */
      outputSlice: (cellId, path, layer, head, r0, r1, c0, c1) =>
        call(`${NOTEBOOK}.output_slice`, [cellId, path, layer, head, r0, r1, c0, c1]),
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
