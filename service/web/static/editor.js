// The catalog beside the SQL editor: clicking a dataset or column name inserts it at the cursor.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-insert]");
  const editor = document.getElementById("sql");
  if (!button || !editor) { return; }
  event.preventDefault();
  const text = button.dataset.insert;
  const start = editor.selectionStart ?? editor.value.length;
  const end = editor.selectionEnd ?? start;
  editor.value = editor.value.slice(0, start) + text + editor.value.slice(end);
  editor.focus();
  editor.selectionStart = editor.selectionEnd = start + text.length;
});
