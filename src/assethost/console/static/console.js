/* assethost console: menus, Copy URL, share links, confirmations, the upload and New Asset dialogs, the editor
   (CodeMirror when its bundle is loaded, else the plain textarea) and its logs pane. Every page
   works without this file; it only makes them quicker to use. */
(function () {
  "use strict";

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function humanSize(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / (1024 * 1024)).toFixed(1) + " MB";
  }

  /* The path a file gets: "/" + its name, spaces replaced by "-" (as the Serverless Toolkit does). */
  function pathFor(name) { return "/" + name.replace(/ /g, "-"); }
  function legacyNameFor(name) { return name.replace(/ /g, "-"); }

  function sizeError(label, size, visibility, root) {
    var limit = Number(visibility === "private" ? root.dataset.maxPrivate : root.dataset.maxPublic);
    if (limit && size > limit) {
      return "File " + label + " is " + size + " bytes; " + visibility + " assets may be at most " + limit + " bytes";
    }
    return "";
  }

  /* One file, one request, with upload progress. Resolves with {ok, status, body}. */
  function send(url, fields, file, onProgress) {
    return new Promise(function (resolve) {
      var data = new FormData();
      Object.keys(fields).forEach(function (k) { data.append(k, fields[k]); });
      data.append("Content", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("X-Requested-With", "assethost-console");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = { message: xhr.responseText || xhr.statusText }; }
        resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body: body });
      };
      xhr.onerror = function () { resolve({ ok: false, status: 0, body: { message: "The connection failed" } }); };
      xhr.send(data);
    });
  }

  /* ---------------------------------------------------------------- menus (details/summary) */
  function closeMenus(except) {
    $all("details.menu[open]").forEach(function (d) { if (d !== except) d.open = false; });
  }
  $all("details.menu").forEach(function (menu) {
    menu.addEventListener("toggle", function () {
      if (menu.open) {
        closeMenus(menu);
        var first = $("[role^=menuitem]:not([disabled])", menu);
        if (first) first.focus();
      }
    });
    menu.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && menu.open) {
        menu.open = false;
        $("summary", menu).focus();
        e.preventDefault();
      } else if ((e.key === "ArrowDown" || e.key === "ArrowUp") && menu.open) {
        var items = $all("[role^=menuitem]:not([disabled])", menu);
        var i = items.indexOf(document.activeElement);
        var next = e.key === "ArrowDown" ? (i + 1) % items.length : (i - 1 + items.length) % items.length;
        if (items[next]) items[next].focus();
        e.preventDefault();
      }
    });
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest("details.menu")) closeMenus(null);
  });

  /* ---------------------------------------------------------------- confirmations */
  $all("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });

  /* ---------------------------------------------------------------- Copy URL */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  }
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  $all("button.copy-url, button.copy-immutable").forEach(function (button) {
    button.addEventListener("click", function () {
      var url = button.dataset.url;
      var box = $("#copied");
      copyText(url).then(function (ok) {
        box.hidden = false;
        $("#copied-url").value = url;
        $(".copied-note", box).textContent = ok ? "Copied to the clipboard." : "Select and copy it.";
        $("#copied-url").focus();
        $("#copied-url").select();
      });
      closeMenus(null);
    });
  });

  /* ---------------------------------------------------------------- Share link… */
  var shareForm = $("#share-form");
  if (shareForm) {
    shareForm.addEventListener("submit", function (e) {
      e.preventDefault();  // the link in the page, copied; without this script, in a message after a reload
      var box = $("#shared");
      fetch(shareForm.action, {
        method: "POST", body: new URLSearchParams(new FormData(shareForm)), credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "X-Requested-With": "assethost-console" }
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        box.hidden = false;
        if (!res.ok) {
          $("#shared-url").value = "";
          $(".copied-note", box).textContent = res.body.message || "No share link was made.";
          return;
        }
        $("#shared-url").value = res.body.url;
        return copyText(res.body.url).then(function (ok) {
          $(".copied-note", box).textContent = "Valid until " + res.body.until + "." +
            (ok ? " Copied to the clipboard." : " Select and copy it.");
          $("#shared-url").focus();
          $("#shared-url").select();
        });
      }, function () {
        box.hidden = false;
        $(".copied-note", box).textContent = "The connection failed: try again.";
      });
    });
  }

  /* ---------------------------------------------------------------- Deploy All */
  var deployForm = $("#deploy-form");
  if (deployForm) {
    deployForm.addEventListener("submit", function () {
      var b = $("#deploy-all");
      b.textContent = "Deploying…";
      setTimeout(function () { b.disabled = true; }, 0);
    });
  }

  /* ---------------------------------------------------------------- drag and drop */
  function onFileDrop(handler) {
    var depth = 0;
    document.addEventListener("dragenter", function (e) {
      if (e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") >= 0) {
        depth++;
        document.body.classList.add("dragging");
      }
    });
    document.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (!depth) document.body.classList.remove("dragging");
    });
    document.addEventListener("dragover", function (e) { e.preventDefault(); });
    document.addEventListener("drop", function (e) {
      e.preventDefault();
      depth = 0;
      document.body.classList.remove("dragging");
      var files = e.dataTransfer ? Array.prototype.slice.call(e.dataTransfer.files || []) : [];
      if (files.length) handler(files);
    });
  }

  /* ---------------------------------------------------------------- Assets pane: upload dialog */
  var dialog = $("#upload-dialog");
  if (dialog) {
    var input = $("#file-input");
    var list = $("#pending");
    var rowTemplate = $("#pending-row");
    var startButton = $("#upload-start");
    var summary = $("#upload-summary");
    var pending = [];  // {file, path, visibility, el, done}
    var existing = {};  // path -> visibility of the assets there now: an upload over one keeps it
    try { existing = JSON.parse(dialog.dataset.existing || "{}"); } catch (e) { existing = {}; }
    var busy = false;
    var uploadedAny = false;

    var validate = function () {
      var bad = 0;
      pending.forEach(function (item) {
        if (item.done) return;
        var err = sizeError(item.path, item.file.size, item.visibility, dialog);
        item.clientError = err;
        if (err || !item.serverError) $(".pf-error", item.el).textContent = err;
        item.el.classList.toggle("invalid", !!err);
        if (err) bad++;
      });
      var todo = pending.filter(function (i) { return !i.done; }).length;
      startButton.disabled = busy || !todo || bad > 0;
      summary.textContent = !todo ? "No files chosen." :
        bad ? bad + " file(s) over the size limit: change their visibility or remove them." :
        todo + " file(s) ready to upload.";
    };

    var addFiles = function (files) {
      files.forEach(function (file) {
        var path = pathFor(file.name);
        pending = pending.filter(function (p) {  // choosing the same file again replaces it
          if (p.path === path && !p.done) { p.el.remove(); return false; }
          return true;
        });
        var el = rowTemplate.content.firstElementChild.cloneNode(true);
        var kept = Object.prototype.hasOwnProperty.call(existing, path) ? existing[path] : null;
        var item = { file: file, path: path, visibility: kept || "public", el: el, done: false };
        el.dataset.path = path;
        $(".pf-path", el).textContent = path;
        $(".pf-size", el).textContent = humanSize(file.size);
        if (kept) {
          el.classList.add("replaces");
          $(".pf-replaces", el).textContent = "Replaces the existing asset " + path + " (" + kept + "; it stays " + kept +
            " unless you change it)";
        }
        var select = $(".pf-visibility", el);
        select.value = item.visibility;
        select.setAttribute("aria-label", "Visibility of " + path);
        select.addEventListener("change", function () { item.visibility = select.value; item.serverError = ""; validate(); });
        var remove = $(".pf-remove", el);
        remove.setAttribute("aria-label", "Remove " + path);
        remove.addEventListener("click", function () {
          pending = pending.filter(function (p) { return p !== item; });
          el.remove();
          validate();
          (startButton.disabled ? $("#add-more") : startButton).focus();
        });
        list.appendChild(el);
        pending.push(item);
      });
      validate();
      if (!dialog.open) dialog.showModal();
    };

    var choose = function () { input.value = ""; input.click(); };
    $("#upload-file").addEventListener("click", function () { closeMenus(null); choose(); });
    $("#add-more").addEventListener("click", choose);
    input.addEventListener("change", function () { addFiles(Array.prototype.slice.call(input.files)); });
    onFileDrop(addFiles);

    var finish = function () {
      dialog.close();
      if (uploadedAny) window.location.reload();
    };
    $("#upload-cancel").addEventListener("click", function () { if (!busy) finish(); });
    dialog.addEventListener("cancel", function (e) { if (busy) e.preventDefault(); else { e.preventDefault(); finish(); } });

    startButton.addEventListener("click", function () {
      var todo = pending.filter(function (i) { return !i.done; });
      if (!todo.length) return;
      busy = true;
      validate();
      dialog.classList.add("uploading");
      var failed = 0;
      var chain = Promise.resolve();
      todo.forEach(function (item) {
        chain = chain.then(function () {
          var bar = $(".pf-progress", item.el);
          item.el.classList.add("sending");
          var strip = $("#strip-metadata");
          var fields = { Path: item.path, Visibility: item.visibility };
          if (strip) fields.StripMetadata = strip.checked ? "true" : "false";
          return send(dialog.dataset.uploadUrl, fields, item.file,
            function (fraction) { bar.value = Math.round(fraction * 100); }
          ).then(function (res) {
            item.el.classList.remove("sending");
            if (res.ok) {
              bar.value = 100;
              item.done = true;
              uploadedAny = true;
              item.el.classList.add("done");
              $(".pf-error", item.el).textContent = "";
            } else {
              failed++;
              bar.value = 0;
              item.el.classList.remove("sending");
              item.serverError = res.body.message || ("Upload failed (HTTP " + res.status + ")");
              $(".pf-error", item.el).textContent = item.serverError;
              item.el.classList.add("failed");
            }
          });
        });
      });
      chain.then(function () {
        busy = false;
        dialog.classList.remove("uploading");
        if (!failed) { finish(); return; }
        validate();
        summary.textContent = failed + " file(s) could not be uploaded; see the messages above.";
        $("#upload-cancel").textContent = "Close";
      });
    });
  }

  /* ---------------------------------------------------------------- Add+ -> New Asset */
  var newDialog = $("#new-asset-dialog");
  if (newDialog) {
    $("#new-asset-item").addEventListener("click", function (e) {
      e.preventDefault();  // the dialog here; the link's page without this script
      closeMenus(null);
      newDialog.showModal();
      $("#new-asset-path").focus();
    });
    $("#new-asset-cancel").addEventListener("click", function () { newDialog.close(); });
  }

  /* ---------------------------------------------------------------- editor */
  var content = $("#content");
  if (content && window.AssethostEditor) {
    content.editor = window.AssethostEditor.attach(content, content.dataset.language, content.readOnly);
    document.body.classList.add("has-code-editor");
  }

  /* ---------------------------------------------------------------- logs pane: follow new lines */
  var logsPane = $("#logs");
  if (logsPane && logsPane.dataset.logsUrl) {
    var logList = $("#log-lines");
    var poll = function () {
      fetch(logsPane.dataset.logsUrl, { headers: { "X-Requested-With": "assethost-console" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) return;
          var known = {};
          $all("li[data-sid]", logList).forEach(function (li) { known[li.dataset.sid] = true; });
          var fresh = body.logs.filter(function (line) { return !known[line.sid]; });
          if (!fresh.length) return;
          var empty = $("li.empty", logList);
          if (empty) empty.remove();
          fresh.reverse().forEach(function (line) {  // oldest of the new ones first, each on top
            var li = document.createElement("li");
            li.dataset.sid = line.sid;
            li.className = "log-" + line.level;
            var time = document.createElement("time");
            time.textContent = line.date;
            var level = document.createElement("span");
            level.className = "level";
            level.textContent = line.level;
            var message = document.createElement("span");
            message.className = "message";
            message.textContent = line.message;
            li.append(time, " ", level, " ", message);
            logList.insertBefore(li, logList.firstChild);
          });
        }, function () { /* offline a moment: the next poll tries again */ });
    };
    setInterval(poll, 3000);
  }

  /* ---------------------------------------------------------------- Assets (Legacy) */
  var legacy = $("#legacy");
  if (legacy) {
    var legacyInput = $("#legacy-input");
    var progressList = $("#legacy-progress");
    var visibilitySelect = $("#legacy-visibility");  // for new files only; every page load starts at Public
    var legacyExisting = {};  // file name -> visibility: a file uploaded over one keeps it
    try { legacyExisting = JSON.parse(legacy.dataset.existing || "{}"); } catch (e) { legacyExisting = {}; }
    var legacyUpload = function (files) {
      var chosen = visibilitySelect.value;
      var anyDone = false, anyFailed = false;
      var chain = Promise.resolve();
      files.forEach(function (file) {
        var name = legacyNameFor(file.name);
        var kept = Object.prototype.hasOwnProperty.call(legacyExisting, name) ? legacyExisting[name] : null;
        var visibility = kept || chosen;
        var li = document.createElement("li");
        li.className = "pending-file";
        li.dataset.filename = name;
        li.innerHTML = '<div class="pf-main"><code class="pf-path"></code> <span class="pf-size muted"></span></div>' +
          '<progress class="pf-progress" max="100" value="0"></progress><p class="pf-error" role="alert"></p>';
        $(".pf-path", li).textContent = name;
        $(".pf-size", li).textContent = humanSize(file.size) + " · " + visibility +
          (kept ? " · replaces the existing file and keeps its visibility" : "");
        progressList.appendChild(li);
        var err = sizeError(name, file.size, visibility, legacy);
        if (err) {
          $(".pf-error", li).textContent = err;
          $(".pf-progress", li).remove();  // nothing was sent: no bar at all
          li.classList.add("failed");
          anyFailed = true;
          return;
        }
        chain = chain.then(function () {
          var bar = $(".pf-progress", li);
          var fields = kept ? { Path: name } : { Path: name, Visibility: visibility };  // the server keeps it too
          return send(legacy.dataset.uploadUrl, fields, file,
            function (f) { bar.value = Math.round(f * 100); }
          ).then(function (res) {
            if (res.ok) { bar.value = 100; li.classList.add("done"); anyDone = true; }
            else {
              anyFailed = true;
              bar.value = 0;
              li.classList.add("failed");
              $(".pf-error", li).textContent = res.body.message || ("Upload failed (HTTP " + res.status + ")");
            }
          });
        });
      });
      chain.then(function () {
        if (anyDone && !anyFailed) { window.location.reload(); return; }
        if (anyDone) {
          var note = document.createElement("p");
          note.className = "legacy-note";
          note.innerHTML = 'Some files were uploaded. <a href="/console/legacy">Show them</a>';
          progressList.parentNode.insertBefore(note, progressList.nextSibling);
        }
      });
    };
    $("#legacy-add").addEventListener("click", function () { legacyInput.value = ""; legacyInput.click(); });
    legacyInput.addEventListener("change", function () { legacyUpload(Array.prototype.slice.call(legacyInput.files)); });
    onFileDrop(legacyUpload);
  }
})();
