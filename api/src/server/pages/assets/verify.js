/* Chop verification page: drag-and-drop and the chosen file's name on the upload form.
   The form works without this script; nothing here talks to any server. */
(function () {
  'use strict';
  var form = document.querySelector('form.upload');
  if (!form) { return; }
  var input = form.querySelector('input[type=file]');
  var drop = form.querySelector('.drop');
  var label = form.querySelector('.drop-name');
  var button = form.querySelector('button[type=submit]');
  var buttonText = button.textContent;
  form.className += ' js';

  function size(n) {
    return n < 1048576 ? Math.max(1, Math.round(n / 1024)) + ' KB' : (n / 1048576).toFixed(1) + ' MB';
  }
  function show() {
    var f = input.files && input.files[0];
    label.textContent = f ? f.name + ' · ' + size(f.size) : '';
    drop.classList.toggle('chosen', !!f);
    drop.classList.remove('error');
  }
  function over(e) { e.preventDefault(); drop.classList.add('over'); }
  function leave() { drop.classList.remove('over'); }

  input.addEventListener('change', show);
  drop.addEventListener('dragenter', over);
  drop.addEventListener('dragover', over);
  drop.addEventListener('dragleave', leave);
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    leave();
    if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      show();
    }
  });
  form.addEventListener('submit', function (e) {
    var f = input.files && input.files[0];
    var max = Number(form.getAttribute('data-max-bytes'));
    if (f && max && f.size > max) {
      e.preventDefault();
      label.textContent = form.getAttribute('data-too-large');
      drop.classList.add('error');
      return;
    }
    button.disabled = true;
    button.textContent = form.getAttribute('data-busy');
  });
  // Coming back with the browser's Back button shows the form ready again.
  window.addEventListener('pageshow', function () {
    button.disabled = false;
    button.textContent = buttonText;
  });
}());
