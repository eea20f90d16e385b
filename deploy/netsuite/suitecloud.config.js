// SuiteCloud CLI project settings: the project lives in src/.
module.exports = {
	defaultProjectFolder: "src",
	commands: {},
};
