package views

import (
	"reflect"
	"testing"
)

func TestCountNoun(t *testing.T) {
	for n, want := range map[int]string{0: "0 tries", 1: "1 try", 2: "2 tries"} {
		t.Run(want, func(t *testing.T) {
			if got := countNoun(n, "try", "tries"); got != want {
				t.Errorf("countNoun(%d) = %q, want %q", n, got, want)
			}
		})
	}
}

func TestLinkParts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []TextPart
	}{
		{"no link", "hello", []TextPart{{Text: "hello"}}},
		{"link in a sentence", "Open http://x.test/a?code=1. Thanks",
			[]TextPart{{Text: "Open "}, {Text: "http://x.test/a?code=1", URL: "http://x.test/a?code=1"}, {Text: ". Thanks"}}},
		{"https at the end", "go https://x.test/r",
			[]TextPart{{Text: "go "}, {Text: "https://x.test/r", URL: "https://x.test/r"}}},
		{"two links, https first", "https://a.test\nhttp://b.test)",
			[]TextPart{{Text: "https://a.test", URL: "https://a.test"}, {Text: "\n"}, {Text: "http://b.test", URL: "http://b.test"}, {Text: ")"}}},
		{"not a link", "javascript:alert(1) mailto:x@y", []TextPart{{Text: "javascript:alert(1) mailto:x@y"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := linkParts(c.in); !reflect.DeepEqual(got, c.want) {
				t.Errorf("linkParts(%q) = %#v, want %#v", c.in, got, c.want)
			}
		})
	}
}
