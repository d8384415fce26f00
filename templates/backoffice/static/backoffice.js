// Copy-to-clipboard for voucher codes, announced to screen readers too.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const status = document.getElementById("copy-status");
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    status.textContent = "Copied to clipboard";
  } catch (error) {
    status.textContent = "Copy failed: select the code and copy it";
  }
  status.hidden = false;
  clearTimeout(status.timer);
  status.timer = setTimeout(() => { status.hidden = true; }, 2500);
});
