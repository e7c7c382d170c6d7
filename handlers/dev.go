package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"latchkey/views"
)

// devMailbox lists the emails the dev mailbox received (dev mode only).
func (h *Handler) devMailbox(c echo.Context) error {
	if h.mailbox == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	vm := views.Mailbox{}
	for _, d := range h.mailbox.Messages() {
		vm.Messages = append(vm.Messages, views.MailboxMessage{
			ID: d.ID, At: stamp(d.At), To: d.Msg.To, Subject: d.Msg.Subject, Text: d.Msg.Text,
			HTMLURL: "/dev/mailbox/" + strconv.Itoa(d.ID),
		})
	}
	return h.render(c, http.StatusOK, views.MailboxPage(h.page(c, "Dev mailbox"), vm))
}

// devMailboxHTML shows one email's HTML part. Email HTML uses inline
// styles, so this response gets a CSP of its own: styles allowed, scripts
// and everything else not, sandboxed.
func (h *Handler) devMailboxHTML(c echo.Context) error {
	if h.mailbox == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	id, err := strconv.Atoi(c.Param("id"))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	d, ok := h.mailbox.Message(id)
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox allow-popups")
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, []byte(d.Msg.HTML))
}
