// VIA shop: small progressive enhancements; every page works without JavaScript.
document.addEventListener("change", (event) => {
  // Changing the sort order applies the filter form at once.
  if (event.target.matches("#filters select[name=sort]")) event.target.form.requestSubmit();
});
