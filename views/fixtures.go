package views

// Fixtures for /dev/styleguide: every component in every state, built from
// plain view models so designers can see (and add) states without a
// database. Edit freely.

// StyleguideFlashes is one flash of each kind.
var StyleguideFlashes = []Flash{
	{Kind: "success", Message: "Your password has been reset, please sign in."},
	{Kind: "info", Message: "We have emailed you a link."},
	{Kind: "error", Message: "Something went wrong. Please try again."},
}

// StyleguideStrengths is the meter at every score.
var StyleguideStrengths = []Strength{
	{Show: true, Score: 0, Label: "Too weak"},
	{Show: true, Score: 1, Label: "Weak"},
	{Show: true, Score: 2, Label: "Fair"},
	{Show: true, Score: 3, Label: "Good"},
	{Show: true, Score: 4, Label: "Strong"},
}

// StyleguideLoginError is the sign-in form after a failed attempt.
var StyleguideLoginError = LoginForm{Email: "ann@example.com", Errors: Errors{"": "Email or password is incorrect."}}

// StyleguideRegisterErrors is the registration form with field errors.
var StyleguideRegisterErrors = RegisterForm{
	Email:    "not-an-address",
	Errors:   Errors{"email": "Enter an email address like name@example.com.", "password": "This password is too common. Choose one that is harder to guess."},
	Strength: Strength{Show: true, Score: 0, Label: "Too weak"},
}

// StyleguideForgotSent is the forgot-password form after a submit.
var StyleguideForgotSent = ForgotForm{Email: "ann@example.com", Sent: true}

// StyleguideReset is the new-password form with an error.
var StyleguideReset = ResetForm{Email: "ann@example.com", Errors: Errors{"password": "Use at least 8 characters."}} // #nosec G101 -- an error message, not a credential

// StyleguideChange is the change-password form with errors.
var StyleguideChange = ChangePasswordForm{Email: "ann@example.com", Errors: Errors{"current_password": "That is not your current password."}}

// StyleguideDelete is the delete-account form after a wrong password.
var StyleguideDelete = DeleteAccountForm{Email: "ann@example.com", Errors: Errors{"current_password": "That is not your current password."}, Focus: "current_password"}

// StyleguideAccount is a populated account page.
var StyleguideAccount = AccountPage{
	Email: "ann@example.com", Verified: true, FailedSignIns: 2,
	Sessions: []SessionRow{
		{ID: "current", Device: "Firefox on Linux", IP: "192.0.2.10", LastSeen: "2026-11-23 10:02", Current: true},
		{ID: "0000000000000000000000000000000000000000000000000000000000000000", Device: "Safari on iPhone", IP: "198.51.100.7", LastSeen: "2026-11-22 18:40"},
	},
	Events: []EventRow{
		{What: "Password reset completed", IP: "192.0.2.10", Device: "Firefox on Linux", When: "2026-11-23 10:01"},
		{What: "Password reset requested", IP: "192.0.2.10", Device: "Firefox on Linux", When: "2026-11-23 09:58"},
		{What: "Failed sign-in", IP: "203.0.113.66", Device: "curl", When: "2026-11-23 09:40"},
	},
	Passkeys: StyleguidePasskeys,
}

// StyleguidePasskeys is the account page's passkey section with two
// passkeys, one never used.
var StyleguidePasskeys = PasskeySection{Available: true, Passkeys: []PasskeyRow{
	{ID: "1", Name: "Phone", Created: "2026-11-20 08:15", LastUsed: "2026-11-23 10:02"},
	{ID: "2", Name: "Work laptop (Ann's)", Created: "2026-11-22 17:30"},
}}

// StyleguidePasskeyStates are the passkey section's other states, each
// shown on the account page: no passkeys yet, and as a browser without
// JavaScript shows it.
var StyleguidePasskeyStates = map[string]PasskeySection{
	"passkeys-none": {Available: true},
	"passkeys-nojs": {Available: true, NoScript: true, Passkeys: StyleguidePasskeys.Passkeys},
	"passkeys-some": StyleguidePasskeys,
}

// StyleguideLoginPasskey is the sign-in page offering passkeys.
var StyleguideLoginPasskey = LoginForm{Passkeys: true}

// StyleguidePasskeyRemove confirms the removal of a passkey.
var StyleguidePasskeyRemove = PasskeyRemove{ID: "2", Name: "Work laptop (Ann's)", Created: "2026-11-22 17:30"}

// StyleguideAccountUnverified is an account page whose address is not
// verified yet: the state and the resend button.
var StyleguideAccountUnverified = AccountPage{
	Email: "bo@example.com",
	Sessions: []SessionRow{
		{ID: "current", Device: "Firefox on Linux", IP: "192.0.2.10", LastSeen: "2026-11-23 10:02", Current: true},
	},
	Events: []EventRow{{What: "Account created", IP: "192.0.2.10", Device: "Firefox on Linux", When: "2026-11-23 10:00"}},
}

// StyleguideVerifyEmail is a verification link's page in each state, by
// state.
var StyleguideVerifyEmail = map[string]VerifyEmailResult{
	VerifyStateVerified: {State: VerifyStateVerified, Email: "ann@example.com"},
	VerifyStateAlready:  {State: VerifyStateAlready, Email: "ann@example.com", SignedIn: true},
	VerifyStateInvalid:  {State: VerifyStateInvalid},
}

// StyleguideErrors is every error page.
var StyleguideErrors = []ErrorPage{
	{Status: 403, Title: "Not allowed", Message: "This request was refused."},
	{Status: 404, Title: "Page not found", Message: "There is nothing at this address."},
	{Status: 410, Title: "This link no longer works", Message: "Reset links work once and only for a limited time.", Link: "/account/forgot-password", LinkText: "Ask for a new link"},
	{Status: 422, Title: "Check the form", Message: "Some of what you entered needs another look."},
	{Status: 429, Title: "Too many attempts", Message: "Please wait a little before trying again."},
	{Status: 500, Title: "Something went wrong", Message: "We could not complete your request."},
	{Status: 503, Title: "Temporarily unavailable", Message: "We cannot complete your request right now."},
}

// StyleguideForbidden is /auth/verify's 403 page for each refusal.
var StyleguideForbidden = []Forbidden{ForbiddenCopy[ReasonEmailUnverified], ForbiddenCopy[ReasonMFARequired]}

// Two-step sign-in, in each state (twostep.templ, login_2fa.templ).
var (
	// StyleguideTwoStepPending is the set-up page showing a sample secret
	// (its QR code is served by /dev/styleguide/qr.png).
	StyleguideTwoStepPending = TwoStepPage{ // #nosec G101 -- a well-known sample secret ("Hello!…" in base32) for the styleguide, nobody's
		State: TwoStepPending, Email: "ann@example.com", Secret: "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP",
		OTPAuthURL: "otpauth://totp/example.com:ann@example.com?algorithm=SHA1&digits=6&issuer=example.com&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
		QRCode:     "/dev/styleguide/qr.png", ExpiresIn: "15 minutes",
	}
	// StyleguideTwoStepPendingError is the same after a wrong code.
	StyleguideTwoStepPendingError = func() TwoStepPage {
		t := StyleguideTwoStepPending
		t.Form, t.Focus = TwoStepFormConfirm, "confirm-code"
		t.Errors = Errors{"code": "That code is not right. Check the app shows the code for this account, and that your phone's clock is right, then enter the current one."}
		return t
	}()
	// StyleguideTwoStepOn is the page with two-step sign-in on.
	StyleguideTwoStepOn = TwoStepPage{State: TwoStepOn, Email: "ann@example.com", EnabledAt: "2026-11-23 10:02", RecoveryLeft: 8}
	// StyleguideTwoStepDisableErrors is the turn-off form after a wrong
	// password and a malformed code.
	StyleguideTwoStepDisableErrors = TwoStepPage{
		State: TwoStepOn, Email: "ann@example.com", EnabledAt: "2026-11-23 10:02", RecoveryLeft: 8,
		Form: TwoStepFormDisable, Focus: "current_password",
		Errors: Errors{"current_password": "That is not your current password.", "code": "Enter a 6-digit code from your app, or one of your recovery codes."},
	}
	// StyleguideRecoveryCodes is the codes page (sample codes).
	StyleguideRecoveryCodes = RecoveryCodesPage{Codes: []string{
		"abcd-efgh-ijkl-mnop", "qrst-uvwx-yz23-4567", "a2b3-c4d5-e6f7-g2h3", "k4m5-n6p7-q2r3-s4t5", "u6v7-w2x3-y4z5-a6b7",
		"c2d3-e4f5-g6h7-i2j3", "k4l5-m6n7-o2p3-q4r5", "s6t7-u2v3-w4x5-y6z7", "b2c3-d4e5-f6g7-h2i3", "j4k5-l6m7-n2o3-p4q5",
	}}
	// StyleguideLoginTwoStepError is the second step after a wrong code.
	StyleguideLoginTwoStepError = LoginTwoStepForm{Errors: Errors{"code": "That code did not work. App codes change every 30 seconds and each works once. If more than 5 minutes have passed since you entered your password, sign in again."}}
)

// StyleguideTwoStepLinks lists the two-step pages of the styleguide:
// route under /dev/styleguide/, then title.
var StyleguideTwoStepLinks = [][2]string{
	{"two-step-off", "Two-step sign-in: off"},
	{"two-step-pending", "Two-step sign-in: set-up (QR code, secret, link)"},
	{"two-step-pending-error", "Two-step sign-in: set-up with a wrong code"},
	{"two-step-on", "Two-step sign-in: on"},
	{"two-step-disable-errors", "Two-step sign-in: turning off with errors"},
	{"recovery-codes", "Recovery codes (shown once)"},
	{"login-2fa", "Sign-in, second step"},
	{"login-2fa-error", "Sign-in, second step with a wrong code"},
}
