package views

import "testing"

func TestDeviceName(t *testing.T) {
	for ua, want := range map[string]string{
		"": "Unknown device",
		"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0":                                         "Firefox on Linux",
		"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/130.0 Safari/537.36 Edg/130.0": "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1":                   "Safari on iPhone",
		"curl/8.5.0": "curl",
	} {
		t.Run(want, func(t *testing.T) {
			if got := DeviceName(ua); got != want {
				t.Errorf("DeviceName(%q) = %q, want %q", ua, got, want)
			}
		})
	}
}
