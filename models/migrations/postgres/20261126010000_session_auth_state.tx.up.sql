-- How far a session's sign-in has got (models.AuthState): 'full' for a
-- signed-in browser; a second factor will add a pending state. Every
-- existing session was a full sign-in.
ALTER TABLE sessions ADD COLUMN auth_state TEXT NOT NULL DEFAULT 'full';
