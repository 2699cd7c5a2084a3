// Text imports (`with { type: "text" }`) of templates embedded in the binary.
declare module "*.hcl" {
  const text: string;
  export default text;
}
