// Package views holds every page, fragment and email as templ components.
// Components take the plain view-model structs below; nothing here knows
// about HTTP, the database or sessions, so a designer can change any page
// by editing a .templ file and assets/app.css. Every URL of Latchkey a
// template writes goes through path(ctx, …), which adds BASE_URL's path
// prefix (see paths.go).
package views

// Assets are the content-hashed routes of the static files
// ("/assets/app.1a2b3c4d5e6f.css"); templates write them through path(ctx, …)
// like every route of ours.
type Assets struct {
	CSS  string
	HTMX string
	JS   string
	// Passkeys is the WebAuthn script, loaded only by the pages that
	// offer passkeys.
	Passkeys string
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	// Kind is "success", "info" or "error"; it picks the colour.
	Kind    string
	Message string
}

// Page is what the layout needs on every page.
type Page struct {
	// Title goes in <title> and is usually the page's heading.
	Title  string
	Assets Assets
	// SignedIn and Email drive the navigation.
	SignedIn bool
	Email    string
	Flash    *Flash
	// DevMode shows the link to the dev mailbox.
	DevMode bool
}

// Errors maps a form field's name to its message; "" is the whole form.
type Errors map[string]string

// LoginForm is the sign-in form.
type LoginForm struct {
	Email string
	// Next is where to go after signing in (a local path, or empty).
	Next string
	// Rd is an accepted return target (SPEC §7), or empty; it wins over
	// Next.
	Rd     string
	Errors Errors
	// Focus names the field to focus after a failed submit.
	Focus string
	// Passkeys offers "Sign in with a passkey" (passkeys are available).
	Passkeys bool
}

// RegisterForm is the registration form.
type RegisterForm struct {
	Email string
	// Rd is an accepted return target (SPEC §7), or empty.
	Rd       string
	Errors   Errors
	Strength Strength
	Focus    string
}

// ForgotForm is the "forgot password" form. Sent is true once submitted:
// the page then says a link is on its way if the account exists.
type ForgotForm struct {
	Email  string
	Sent   bool
	Errors Errors
	Focus  string
}

// ResetForm chooses a new password with a reset code. Code is empty when
// the session remembers the code (after the clean-URL redirect).
type ResetForm struct {
	Code     string
	Email    string
	Errors   Errors
	Strength Strength
	Focus    string
}

// ChangePasswordForm changes the password of the signed-in account.
type ChangePasswordForm struct {
	Email    string
	Errors   Errors
	Strength Strength
	Focus    string
}

// Strength is the password strength meter.
type Strength struct {
	// Show is false until the user has typed something.
	Show bool
	// Score runs from 0 (refused or trivial) to 4 (strong).
	Score int
	// Label names the score ("Too weak", "Weak", "Fair", "Good", "Strong").
	Label string
}

// FieldFeedback is the inline message under one field, swapped in by
// htmx while the user types.
type FieldFeedback struct {
	// ID is the input's id; the message element is ID + "-feedback".
	ID      string
	Message string
}

// PasswordFeedback is the message and strength meter under a new-password
// field.
type PasswordFeedback struct {
	ID       string
	Message  string
	Strength Strength
}

// AccountPage is the signed-in account overview.
type AccountPage struct {
	Email    string
	Verified bool
	Sessions []SessionRow
	Events   []EventRow
	// FailedSignIns counts failed sign-ins among the recent events.
	FailedSignIns int
	// Passkeys is the passkey section (views/passkeys.templ).
	Passkeys PasskeySection
	// TwoStep is the "Two-step sign-in" section (twostep_section.templ).
	TwoStep TwoStepSummary
}

// SessionRow is one signed-in device.
type SessionRow struct {
	// ID identifies the session for the "sign out" button (its id hash,
	// never the cookie value).
	ID       string
	Device   string
	IP       string
	Created  string
	LastSeen string
	Current  bool
}

// EventRow is one line of security activity.
type EventRow struct {
	What   string
	IP     string
	Device string
	When   string
}

// ErrorPage is shown for 403, 404, 410, 413, 422, 429, 500, 503…
type ErrorPage struct {
	Status  int
	Title   string
	Message string
	// Link and LinkText offer a way on (for example "Ask for a new link");
	// Link is a route, written through path(ctx, …).
	Link     string
	LinkText string
}

// Mailbox lists the dev mailbox's messages, and every email template
// rendered with sample data.
type Mailbox struct {
	Messages []MailboxMessage
	Samples  []MailboxMessage
}

// MailboxMessage is one message in the dev mailbox.
type MailboxMessage struct {
	ID      int
	At      string
	To      string
	Subject string
	Text    string
	// HTMLURL shows the HTML part on its own page (a route, written
	// through path(ctx, …)).
	HTMLURL string
}

// NotMeForm confirms the "this wasn't me" action; Token is the signed
// one-time token from the email.
type NotMeForm struct {
	Token string
}

// DeleteAccountForm deletes the signed-in account.
type DeleteAccountForm struct {
	// Email is the account's address, for the warning and for password
	// managers (a hidden username field).
	Email  string
	Errors Errors
	Focus  string
}

// PasskeySection is the account page's passkey section.
type PasskeySection struct {
	// Available is false when this server cannot offer passkeys (BASE_URL
	// is an IP address): the section is then left out.
	Available bool
	Passkeys  []PasskeyRow
	// NoScript renders the section as a browser without JavaScript shows
	// it, whatever the browser (the styleguide's state).
	NoScript bool
	// Script is the route of assets/passkeys.js (Assets.Passkeys).
	Script string
}

// PasskeyRow is one passkey on the account page.
type PasskeyRow struct {
	// ID identifies the passkey for its "remove" link.
	ID      string
	Name    string
	Created string
	// LastUsed is "" for a passkey that never signed in.
	LastUsed string
}

// PasskeyRemove confirms the removal of one passkey.
type PasskeyRemove struct {
	ID      string
	Name    string
	Created string
}

// The states of a verification link's page (VerifyEmailResult.State).
const (
	VerifyStateVerified = "verified"
	VerifyStateAlready  = "already"
	VerifyStateInvalid  = "invalid"
)

// VerifyEmailResult is the page a verification link opens.
type VerifyEmailResult struct {
	// State is VerifyStateVerified, VerifyStateAlready or VerifyStateInvalid
	// (a 410).
	State string
	// Email is the address verified (empty for VerifyStateInvalid).
	Email string
	// SignedIn chooses the way on: the account page, or signing in.
	SignedIn bool
}

// Two-step sign-in (TOTP and recovery codes): the account section, the
// set-up page, the recovery codes shown once, and the sign-in's second
// step.

// TwoStepSummary is the account page's "Two-step sign-in" section.
type TwoStepSummary struct {
	Enabled bool
	// RecoveryLeft counts unused recovery codes (when Enabled).
	RecoveryLeft int
}

// The states of the two-step set-up page.
const (
	TwoStepOff     = "off"     // not set up: explain, offer to start
	TwoStepPending = "pending" // a secret shown, waiting for its first code
	TwoStepOn      = "on"      // on: renew recovery codes, turn off
)

// The forms of the two-step set-up page (TwoStepPage.Form).
const (
	TwoStepFormConfirm = "confirm"
	TwoStepFormRenew   = "renew"
	TwoStepFormDisable = "disable"
)

// TwoStepPage is /account/2fa.
type TwoStepPage struct {
	// State is TwoStepOff, TwoStepPending or TwoStepOn.
	State string
	// Email is the account's address (the password manager's username).
	Email string
	// Pending: the secret in groups of four for typing, the otpauth://
	// link for an app on this device, the QR code's route, and the minutes
	// left to confirm.
	Secret     string
	OTPAuthURL string
	QRCode     string
	ExpiresIn  string
	// On: since when, and how many recovery codes are left.
	EnabledAt    string
	RecoveryLeft int
	// Form names the form Errors and Focus belong to (TwoStepForm…).
	Form   string
	Errors Errors
	Focus  string
}

// RecoveryCodesPage shows new recovery codes, once.
type RecoveryCodesPage struct {
	Codes []string
	// Renewed: new codes replaced old ones (else two-step sign-in was just
	// turned on).
	Renewed bool
}

// LoginTwoStepForm is the second step of signing in.
type LoginTwoStepForm struct {
	// Next and Rd are carried through from the password step.
	Next   string
	Rd     string
	Errors Errors
}
