// Package email holds the emails as templ components: each has an HTML
// and a plain-text version built from the same view model.
package email

// Reset is the password-reset email.
type Reset struct {
	// Link is BASE_URL + the reset path + the code.
	Link string
	// ExpiresIn is human text ("1 hour"); ExpiresAt the absolute time (UTC).
	ExpiresIn string
	ExpiresAt string
	// IP and Device describe who asked.
	IP     string
	Device string
	// ForgotURL lets the reader ask again if the link has expired.
	ForgotURL string
}

// Changed is the "your password was changed" email.
type Changed struct {
	When   string
	IP     string
	Device string
	// How says what changed it ("a password reset", "the account page").
	How string
	// ByOperator is set when an operator set the password from the command
	// line: there is no IP address or device to name, so the email says so
	// instead.
	ByOperator bool
	// NotMeURL starts the "this wasn't me" recovery: it signs out every
	// session and starts a reset.
	NotMeURL string
}

// Verify is the email-verification email.
type Verify struct {
	// Email is the address being confirmed.
	Email string
	// Link is BASE_URL + the verification path + the code.
	Link string
	// ExpiresIn is human text ("24 hours"); ExpiresAt the absolute time (UTC).
	ExpiresIn string
	ExpiresAt string
	// AccountURL is the account page, where a new link can be asked for.
	AccountURL string
}

// FactorKind says which second-factor email to write.
type FactorKind string

// The second-factor emails.
const (
	FactorKindAdded           FactorKind = "added"
	FactorKindRemoved         FactorKind = "removed"
	FactorKindRecoveryUsed    FactorKind = "recovery-used"
	FactorKindRecoveryRenew   FactorKind = "recovery-renewed"
	FactorKindResetByOperator FactorKind = "reset-by-operator"
)

// Factor is a "your second factors changed" email: one was added or
// removed, a recovery code used, new recovery codes made, or an operator
// removed them all.
type Factor struct {
	Kind FactorKind
	// Factor names the factor ("an authenticator app (a 6-digit code)",
	// "a passkey"); empty for FactorKindResetByOperator.
	Factor string
	When   string
	IP     string
	Device string
	// RecoveryLeft is how many recovery codes are left
	// (FactorKindRecoveryUsed).
	RecoveryLeft int
	// SettingsURL is the two-step sign-in page (BASE_URL).
	SettingsURL string
	// NotMeURL starts the "this wasn't me" recovery: it locks the
	// password, signs out every session, removes the second factors added
	// in the last 24 hours and emails a reset link.
	NotMeURL string
}
