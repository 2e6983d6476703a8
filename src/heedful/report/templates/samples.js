(function () {
  var box = document.getElementById('samples'); if (!box) return;
  var items = Array.prototype.slice.call(box.children), filter = document.getElementById('filter'),
      sort = document.getElementById('sort'), shown = document.getElementById('shown');
  function update() {
    var q = filter.value.toLowerCase(), order = items.slice(), n = 0;
    if (sort.value !== 'file') order.sort(function (a, b) {
      var d = parseFloat(a.dataset.rouge) - parseFloat(b.dataset.rouge); return sort.value === 'asc' ? d : -d; });
    order.forEach(function (el) {
      var hit = el.dataset.text.toLowerCase().indexOf(q) >= 0; el.style.display = hit ? '' : 'none';
      if (hit) n++; box.appendChild(el); });
    shown.textContent = n + ' of ' + items.length + ' shown';
  }
  filter.addEventListener('input', update); sort.addEventListener('change', update); update();
})();
