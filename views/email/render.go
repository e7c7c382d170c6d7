package email

import (
	"bytes"
	"context"
	"html"
	"strings"

	"github.com/a-h/templ"
)

func deviceSuffix(device string) string {
	if device == "" {
		return ""
	}
	return " (" + device + ")"
}

// RenderText renders a text-part component. templ escapes every value for
// HTML; unescaping the whole result gives back exactly the text, since
// the text templates contain no markup of their own.
func RenderText(ctx context.Context, c templ.Component) (string, error) {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return "", err
	}
	lines := strings.Split(html.UnescapeString(buf.String()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n"), nil
}

// RenderHTML renders an HTML-part component.
func RenderHTML(ctx context.Context, c templ.Component) (string, error) {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}
