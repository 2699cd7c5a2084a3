// The author and committer of every commit the tests and stress scripts make (git refuses to
// commit without one). No imports: stress scripts run outside \`bun test\` and use it too.
export const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.com",
};
