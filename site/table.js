// Render a {columns: [...], rows: [[...], ...]} output (the kernel's table kind) as an HTML table.
// Numbers are right-aligned and shown with up to 4 decimals.

export function formatCell(value) {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 1e-4 || value === 0 ? value.toFixed(4) : value.toExponential(3);
  }
  if (value === null || value === undefined) return "";
  return String(value);
}

export function renderTable(value, { caption } = {}) {
  const table = document.createElement("table");
  table.className = "cells-table";
  if (caption) table.createCaption().textContent = caption;
  const headRow = table.createTHead().insertRow();
  for (const column of value.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column;
    headRow.appendChild(th);
  }
  const body = table.createTBody();
  for (const row of value.rows) {
    const tr = body.insertRow();
    for (const cell of Array.from(row)) {
      const td = tr.insertCell();
      td.textContent = formatCell(cell);
      if (typeof cell === "number") td.className = "num";
    }
  }
  return table;
}
