// TokenPool console: copy buttons and confirmations. No framework, no build step.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    var label = button.textContent;
    copyText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
      button.setAttribute("data-copied", "true");
      setTimeout(function () { button.textContent = label; }, 2000);
    }, function () {
      button.textContent = "Copy failed: select and copy by hand";
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Passkeys (WebAuthn). The server sends the options as JSON with binary fields in base64url; the browser's
  // answer goes back the same way. Forms marked data-passkey-* stay hidden where the browser has no passkeys.
  function fromBase64Url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64Url(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return { type: d.type || "public-key", id: fromBase64Url(d.id), transports: d.transports || undefined }; });
  }

  function creationOptions(o) {
    return {
      rp: { id: o.rp.id, name: o.rp.name },
      user: { id: fromBase64Url(o.user.id), name: o.user.name, displayName: o.user.displayName },
      challenge: fromBase64Url(o.challenge),
      pubKeyCredParams: o.pubKeyCredParams,
      timeout: o.timeout,
      attestation: o.attestation || "none",
      authenticatorSelection: o.authenticatorSelection || undefined,
      excludeCredentials: descriptors(o.excludeCredentials)
    };
  }

  function requestOptions(o) {
    return {
      challenge: fromBase64Url(o.challenge),
      rpId: o.rpId,
      timeout: o.timeout,
      userVerification: o.userVerification || "preferred",
      allowCredentials: descriptors(o.allowCredentials)
    };
  }

  function credentialJson(credential) {
    var r = credential.response, response = { clientDataJSON: toBase64Url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64Url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64Url(r.authenticatorData);
      response.signature = toBase64Url(r.signature);
      if (r.userHandle) { response.userHandle = toBase64Url(r.userHandle); }
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64Url(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    });
  }

  function post(url, body) {
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        return (type.indexOf("json") >= 0 ? response.json() : Promise.resolve({})).then(function (json) {
          if (!response.ok) { throw new Error(json.error || "The server refused the passkey request (" + response.status + ")."); }
          return json;
        });
      });
  }

  function handlerUrl(form, handler) {
    var url = new URL(form.getAttribute("action") || window.location.pathname, window.location.href);
    url.searchParams.set("handler", handler);
    return url.toString();
  }

  function showError(form, message) {
    var box = form.parentElement.querySelector("[data-testid=passkey-error]");
    if (box) { box.textContent = message; box.hidden = false; }
  }

  function passkeyCeremony(form, optionsHandler, finishHandler, run) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = form.parentElement.querySelector("[data-testid=passkey-error]");
      if (box) { box.hidden = true; }
      var data = new FormData(form);
      post(handlerUrl(form, optionsHandler), data)
        .then(run)
        .then(function (credential) {
          var finish = new FormData(form);
          finish.set("credential", credentialJson(credential));
          return post(handlerUrl(form, finishHandler), finish);
        })
        .then(function (result) { window.location.assign(result.redirect || window.location.pathname); })
        .catch(function (error) { showError(form, error && error.message ? error.message : String(error)); });
    });
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) { note.hidden = supported; });
  document.querySelectorAll("form[data-passkey-sign-in]").forEach(function (form) {
    if (!supported) { return; }
    form.hidden = false;
    passkeyCeremony(form, "passkeyOptions", "passkey", function (options) {
      return navigator.credentials.get({ publicKey: requestOptions(options) });
    });
  });
  document.querySelectorAll("form[data-passkey-add]").forEach(function (form) {
    if (!supported) { return; }
    form.hidden = false;
    passkeyCeremony(form, "passkeyOptions", "passkey", function (options) {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    });
  });
})();
