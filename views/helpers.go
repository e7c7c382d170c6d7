package views

import "strconv"

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
