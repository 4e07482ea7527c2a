// A cell's code editor: CodeMirror 6 with Python highlighting and the notebook's run keys.
// ./vendor/codemirror.js is bundled by build.py (esbuild) from the npm packages pinned in package.json.
import {
  EditorView, EditorState, StateField, StateEffect, Prec, Decoration, keymap, lineNumbers, drawSelection,
  highlightActiveLine, defaultKeymap, history, historyKeymap, indentWithTab, syntaxHighlighting,
  defaultHighlightStyle, bracketMatching, indentOnInput, indentUnit, closeBrackets, closeBracketsKeymap, python,
} from "./vendor/codemirror.js";

const setErrorLine = StateEffect.define();
const errorLineMark = Decoration.line({ class: "cm-error-line" });

// The line a traceback points at stays marked until the code changes or the cell runs again.
const errorLineField = StateField.define({
  create: () => Decoration.none,
  update(marks, transaction) {
    if (transaction.docChanged) return Decoration.none;
    for (const effect of transaction.effects) {
      if (!effect.is(setErrorLine)) continue;
      const line = effect.value;
      const doc = transaction.state.doc;
      if (!line || line < 1 || line > doc.lines) return Decoration.none;
      return Decoration.set([errorLineMark.range(doc.line(line).from)]);
    }
    return marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

const theme = EditorView.theme({
  "&": { fontSize: "13px", backgroundColor: "var(--code-bg)" },
  ".cm-content": { fontFamily: "var(--mono)", padding: "6px 0" },
  ".cm-gutters": { backgroundColor: "var(--code-bg)", border: "none", color: "var(--muted)" },
  "&.cm-focused": { outline: "none" },
  ".cm-error-line": { backgroundColor: "var(--error-line)" },
});

/**
 * Mount an editor in `parent`.
 * onRun(): Ctrl/Cmd+Enter. onRunAndMove(): Shift+Enter. onLeave(): Esc (the editor has let go of the focus).
 * onChange(text): every edit.
 */
export function createEditor(parent, { doc, label, onRun, onRunAndMove, onLeave, onChange }) {
  const runKeys = Prec.highest(keymap.of([
    { key: "Shift-Enter", run: () => { onRunAndMove?.(); return true; } },
    { key: "Mod-Enter", run: () => { onRun?.(); return true; } },
    // Esc leaves the editor (as in Jupyter), so Tab and the page's keys work again
    { key: "Escape", run: (view) => { view.contentDOM.blur(); onLeave?.(); return true; } },
  ]));
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        runKeys,
        lineNumbers(),
        history(),
        drawSelection(),
        highlightActiveLine(),
        indentOnInput(),
        indentUnit.of("    "),
        bracketMatching(),
        closeBrackets(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        python(),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        errorLineField,
        theme,
        EditorView.contentAttributes.of({ "aria-label": label || "cell code" }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange?.(update.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue(text) {
      if (text === view.state.doc.toString()) return;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    markErrorLine(line) { view.dispatch({ effects: setErrorLine.of(line || 0) }); },
    focus() { view.focus(); },
  };
}
