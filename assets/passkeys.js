// Passkeys (WebAuthn): adding one on the account page and signing in with
// one on the sign-in page. Loaded only by those pages. The controls are
// rendered hidden, with a sentence saying they need JavaScript; this file
// reveals them (and hides the sentence) only in a browser that supports
// passkeys. The server's JSON endpoints are same-origin only.
(function () {
  "use strict";

  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) return;

  // base64url <-> ArrayBuffer: the options arrive as JSON with base64url
  // strings, and the credential goes back the same way.
  function toBuffer(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toBase64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return pk;
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return pk;
  }

  // The credential as the server's strict decoder expects it: exactly
  // these members, binary ones in base64url.
  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) out.response.userHandle = toBase64url(r.userHandle);
    }
    return JSON.stringify(out);
  }

  // post sends JSON and resolves with {ok, status, data}; an answer that
  // is not JSON (a refusal page) gives data {}.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        return { ok: resp.ok, status: resp.status, data: data };
      });
    });
  }
  function answered(r) {
    if (!r.ok) throw r;
    return r.data;
  }

  // message says what went wrong, for people.
  function message(err, what) {
    if (err && err.data && err.data.message) return err.data.message;
    if (err && err.status === 429) return "Too many attempts. Please wait a little before trying again.";
    if (err && err.status === 403) return "This request was refused. Reload the page and try again.";
    if (err && err.name === "NotAllowedError") return "The " + what + " was cancelled or timed out.";
    if (err && err.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    if (err && err.name === "SecurityError") return "Passkeys cannot be used on this address.";
    return "Something went wrong. Please try again.";
  }

  // revealIn shows the passkey controls of a section and hides its
  // "needs JavaScript" sentence.
  function revealIn(root, control) {
    control.hidden = false;
    root.querySelectorAll("[data-passkey-nojs]").forEach(function (p) { p.hidden = true; });
  }

  // Adding a passkey (account page).
  function setupAdd(form) {
    var section = form.closest("section") || document;
    var input = form.querySelector('input[name="name"]');
    var feedback = document.getElementById(input.id + "-feedback");
    var status = form.querySelector("[data-passkey-status]");
    var button = form.querySelector('button[type="submit"]');
    revealIn(section, form);

    function fieldError(msg) {
      feedback.textContent = msg;
      if (msg) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
      } else {
        input.removeAttribute("aria-invalid");
      }
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      fieldError("");
      status.textContent = "Follow your browser's prompt to create the passkey.";
      button.disabled = true;
      post(form.dataset.begin, JSON.stringify({ name: input.value }))
        .then(answered)
        .then(function (opts) {
          return navigator.credentials.create({ publicKey: creationOptions(opts) });
        })
        .then(function (cred) {
          status.textContent = "Saving the passkey…";
          return post(form.dataset.finish, credentialJSON(cred));
        })
        .then(answered)
        .then(function (data) { window.location.assign(data.redirect); })
        .catch(function (err) {
          button.disabled = false;
          if (err && err.data && err.data.field === "name") {
            status.textContent = "";
            fieldError(err.data.message);
            return;
          }
          status.textContent = message(err, "passkey creation");
        });
    });
  }

  // Signing in with a passkey (sign-in page): the button, and the email
  // field's autofill (conditional mediation) where the browser has it.
  function setupSignIn(button) {
    var box = button.closest(".passkey-signin") || document;
    var status = box.querySelector("[data-passkey-status]");
    var pending = Promise.resolve(); // the begin of the latest ceremony
    var autofill = null; // AbortController of the autofill request

    function ceremony(mediation) {
      var ctrl = new AbortController();
      var begun = post(button.dataset.begin, JSON.stringify(mediation ? { mediation: mediation } : {})).then(answered);
      pending = begun.catch(function () {});
      var done = begun.then(function (opts) {
        var req = { publicKey: requestOptions(opts), signal: ctrl.signal };
        if (mediation) req.mediation = mediation;
        return navigator.credentials.get(req);
      }).then(function (cred) {
        status.textContent = "Signing you in…";
        return post(button.dataset.finish, credentialJSON(cred));
      }).then(answered).then(function (data) {
        window.location.assign(data.redirect);
      });
      return { ctrl: ctrl, done: done };
    }

    function startAutofill() {
      if (!PublicKeyCredential.isConditionalMediationAvailable) return;
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) return;
        var c = ceremony("conditional");
        autofill = c.ctrl;
        c.done.catch(function (err) {
          if (err && err.name === "AbortError") return; // replaced by the button or a new form
          status.textContent = message(err, "passkey sign-in");
        });
      });
    }

    revealIn(box, button);
    button.addEventListener("click", function () {
      status.textContent = "";
      button.disabled = true;
      // One ceremony at a time: the browser keeps only the latest in its
      // cookie, so wait for the autofill's begin before replacing it.
      pending.then(function () {
        if (autofill) autofill.abort();
        autofill = null;
        return ceremony("").done;
      }).catch(function (err) {
        status.textContent = message(err, "passkey sign-in");
      }).then(function () {
        button.disabled = false;
      });
    });
    startAutofill();
    // A failed password submit swaps the form (htmx): autofill must be
    // asked for again on the new email field.
    document.addEventListener("htmx:after:swap", function () {
      if (!autofill) return;
      autofill.abort();
      autofill = null;
      pending.then(startAutofill);
    });
  }

  function init() {
    document.querySelectorAll("form[data-passkey-add]").forEach(setupAdd);
    document.querySelectorAll("button[data-passkey-login]").forEach(setupSignIn);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
