// A form with data-cap refuses, before sending, files larger together than the server's
// request cap, and shows its [data-too-large] message instead of the server's 413.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-cap]");
  if (!form) { return; }
  let size = 0;
  form.querySelectorAll("input[type=file]").forEach((input) => {
    for (const file of input.files) { size += file.size; }
  });
  const message = form.querySelector("[data-too-large]");
  if (size > Number(form.dataset.cap)) {
    event.preventDefault();
    if (message) { message.hidden = false; }
  } else if (message) {
    message.hidden = true;
  }
});
