package views

import (
	"strconv"
	"strings"
	"unicode"
)

func scoreValue(score int) string { return strconv.Itoa(score) }

func scoreClass(score int) string {
	switch {
	case score <= 1:
		return "weak"
	case score == 2:
		return "fair"
	default:
		return "good"
	}
}

// autofocusOn reports whether field should take focus after a failed
// submit.
func autofocusOn(focus, field string) bool { return focus == field }

// countNoun writes a count with its noun in the right number: "1 failed
// sign-in attempt", "3 failed sign-in attempts".
func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// TextPart is a run of plain text, or a link when URL is set.
type TextPart struct {
	Text string
	URL  string
}

// linkParts splits plain text into runs so that http(s) URLs in it can be
// rendered as links (the dev mailbox's text view). A URL runs to the next
// whitespace; trailing punctuation that usually ends a sentence is left
// out of it.
func linkParts(text string) []TextPart {
	var parts []TextPart
	for text != "" {
		i := strings.Index(text, "http://")
		if j := strings.Index(text, "https://"); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			parts = append(parts, TextPart{Text: text})
			break
		}
		if i > 0 {
			parts = append(parts, TextPart{Text: text[:i]})
		}
		end := strings.IndexFunc(text[i:], unicode.IsSpace)
		if end < 0 {
			end = len(text) - i
		}
		link := strings.TrimRight(text[i:i+end], ".,;:!?)>\"'")
		parts = append(parts, TextPart{Text: link, URL: link})
		text = text[i+len(link):]
	}
	return parts
}
