// Follows a job live over server-sent events and updates its status and progress.
(function () {
  var box = document.getElementById("follow");
  if (!box || box.dataset.settled === "yes" || !window.EventSource) { return; }
  var first = document.getElementById("status").textContent;
  var source = new EventSource("/console/jobs/" + box.dataset.job + "/events");
  source.addEventListener("status", function (event) {
    var job = JSON.parse(event.data);
    var status = document.getElementById("status");
    status.dataset.status = job.status;
    status.className = "badge status-" + job.status;
    status.textContent = (window.SLUICE_LABELS || {})[job.status] || job.status;
    var bar = document.getElementById("progress");
    if (bar && (job.status === "failed" || job.status === "denied")) { bar.remove(); }
    else if (bar) { bar.value = job.progress; }
  });
  source.addEventListener("end", function () {
    source.close();
    if (document.getElementById("status").textContent !== first) { window.location.reload(); }
    else { document.getElementById("live").textContent = ""; }
  });
  source.onerror = function () { source.close(); };
})();
