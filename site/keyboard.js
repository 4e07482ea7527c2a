// Page-wide keys: `?` opens the list of shortcuts (unless the learner is typing). The cells' own keys
// (Shift+Enter, Ctrl/Cmd+Enter, Esc) live in editor.js, a grid's arrow keys in grid.js.
//
//   installShortcuts(document.getElementById("shortcuts"), document.getElementById("show-shortcuts"));

function typing(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export function installShortcuts(dialog, button) {
  const open = () => { if (!dialog.open) dialog.showModal(); };
  button.addEventListener("click", open);
  document.addEventListener("keydown", (event) => {
    if (event.key === "?" && !event.ctrlKey && !event.metaKey && !event.altKey && !typing(event.target)) {
      event.preventDefault();
      open();
    }
  });
}
