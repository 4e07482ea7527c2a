// The prompt cell's code when it is the plain one-liner `prompt = "..."`, which the toolbar's prompt box edits.

const PROMPT_LINE = /^(\s*prompt\s*=\s*)("(?:[^"\\\n]|\\.)*")/m;

/** The prompt text when a prompt cell is the plain `prompt = "..."`, else null. */
export function promptFromSource(source) {
  const match = /^\s*prompt\s*=\s*("(?:[^"\\\n]|\\.)*")\s*(#.*)?$/m.exec(source);
  if (!match || source.trim().split("\n").filter((line) => line.trim() && !line.trim().startsWith("#")).length !== 1) {
    return null;
  }
  try { return JSON.parse(match[1]); } catch { return null; }
}

/** source with its prompt string replaced by text (as a Python literal: JSON's escapes are all valid Python). */
export function withPrompt(source, text) {
  return source.replace(PROMPT_LINE, (_, lead) => lead + JSON.stringify(text));
}
