package views

// Change-of-address states for /dev/styleguide (see fixtures.go).

// StyleguideChangeEmail is the change-of-address form with errors, a
// change already pending.
var StyleguideChangeEmail = ChangeEmailForm{
	Current: "ann@example.com", Email: "ann@example",
	Pending: &PendingEmailChange{NewEmail: "ann.new@example.org", ExpiresAt: "2026-11-24 09:58"},
	Errors:  Errors{"email": "Enter an email address like name@example.com.", "current_password": "That is not your current password."},
	Focus:   "email",
}

// StyleguideEmailConfirm is every page a change-of-address link leads
// to, keyed by its styleguide path.
var StyleguideEmailConfirm = map[string]EmailConfirmResult{
	"email-confirmed":            {State: EmailConfirmDone, Email: "ann.new@example.org", SignedIn: true},
	"email-confirmed-signed-out": {State: EmailConfirmDone, Email: "ann.new@example.org"},
	"email-in-use":               {State: EmailConfirmInUse},
	"email-link-invalid":         {State: EmailConfirmInvalid},
}

// StyleguideEmailConfirmOrder lists StyleguideEmailConfirm's keys in
// the order the styleguide links them, with their descriptions.
var StyleguideEmailConfirmOrder = [][2]string{
	{"email-confirmed", "Change of address confirmed, signed in"},
	{"email-confirmed-signed-out", "Change of address confirmed, signed out"},
	{"email-in-use", "Change of address: the address was taken meanwhile (409)"},
	{"email-link-invalid", "Change of address link no longer valid (410)"},
}
